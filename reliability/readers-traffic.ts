/**
 * Changes at a steady rate from one writer to many receivers of one project, each change carrying
 * a sequence mark and a payload of a chosen size; receivers timestamp each change's arrival
 * (one clock: this process's). Runs until told to stop, then waits for the last deliveries.
 */
import type { BenchClient } from '../bench/client.js';

export interface TrafficRun {
  /** Bytes of frames one receiver got so far (what the server sends each subscriber). */
  bytesPerReceiver(): number;
  /** Stop sending; resolves once the deliveries are in (or the drain timeout passed). */
  stop(drainMs: number): Promise<{ sent: number; expected: number; latencies: number[]; sentTimes: number[] }>;
}

const MARK = Buffer.from('rel-seq-');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Payload text of `bytes` ASCII characters that differs from change to change. */
function payload(seq: number, bytes: number): string {
  const unit = `${seq.toString(36)} lorem ipsum dolor sit amet `;
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}

/** Sequence number in a raw projectChange frame, -1 when it holds none. */
function seqOf(raw: Buffer): number {
  const at = raw.indexOf(MARK);
  if (at < 0) return -1;
  let n = 0;
  let i = at + MARK.length;
  for (; i < raw.length && raw[i] >= 48 && raw[i] <= 57; i++) n = n * 10 + raw[i] - 48;
  return i === at + MARK.length ? -1 : n;
}

export function startTraffic(o: {
  writer: BenchClient;
  receivers: BenchClient[];
  project: number;
  /** Task ids the updates go round. */
  tasks: number[];
  perSecond: number;
  changeBytes: number;
  /** First sequence number (each run its own, so no run's marks are mistaken for another's). */
  firstSeq: number;
}): TrafficRun {
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  /** Send time of the change each latency belongs to. */
  const sentTimes: number[] = [];
  const seen = new Map<BenchClient, Set<number>>();
  let delivered = 0;
  let firstReceiverBytes = 0;
  let onDelivered: (() => void) | null = null;
  for (const receiver of o.receivers) {
    const mine = new Set<number>();
    seen.set(receiver, mine);
    const first = receiver === o.receivers[0];
    receiver.onChange = (raw, at) => {
      // Payload and the frame's header (2 bytes, 2 more from 126 bytes, 8 more from 64 KiB).
      if (first) firstReceiverBytes += raw.length + (raw.length < 126 ? 2 : raw.length < 65536 ? 4 : 10);
      const seq = seqOf(raw);
      const t = sentAt.get(seq);
      if (t === undefined || mine.has(seq)) return;
      mine.add(seq);
      latencies.push(at - t);
      sentTimes.push(t);
      delivered++;
      onDelivered?.();
    };
  }
  o.writer.onChange = () => undefined;
  let stopped = false;
  let sent = 0;
  const interval = 1000 / o.perSecond;
  const sending = (async () => {
    const t0 = performance.now();
    for (let i = 0; !stopped; i++) {
      const wait = t0 + i * interval - performance.now();
      if (wait > 0) await sleep(wait);
      if (stopped) break;
      const seq = o.firstSeq + i;
      const id = o.tasks[i % o.tasks.length];
      sentAt.set(seq, performance.now());
      o.writer.send({ command: 'projectChange', project: o.project, changes: { tasks: { updated: [{ id, name: `rel-seq-${seq}`, note: payload(seq, o.changeBytes) }] } } });
      sent++;
    }
  })();
  return {
    bytesPerReceiver: () => firstReceiverBytes,
    async stop(drainMs) {
      stopped = true;
      await sending;
      const expected = sent * o.receivers.length;
      if (delivered < expected) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, drainMs);
          onDelivered = () => delivered >= expected && (clearTimeout(timer), resolve());
        });
      }
      for (const receiver of o.receivers) receiver.onChange = null;
      o.writer.onChange = null;
      return { sent, expected, latencies, sentTimes };
    },
  };
}
