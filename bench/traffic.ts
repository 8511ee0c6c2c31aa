/**
 * Update traffic on one project: a sender sends small `projectChange` updates on a fixed
 * schedule, every receiver timestamps what it gets. All clocks are this process's.
 */
import type { BenchClient } from './client.js';

export interface TrafficOptions {
  sender: BenchClient;
  receivers: BenchClient[];
  project: number;
  intervalMs: number;
  /** Upper bound on updates sent. */
  maxCount: number;
  /** Stop sending early once this returns true (checked before each send). */
  stop?: () => boolean;
  /** How long to wait for the last deliveries after the last send. */
  drainTimeoutMs: number;
}

/** Each run writes its own block of tasks, so no run's writes look concurrent with the last run's. */
let runs = 0;

export interface TrafficResult {
  sent: number;
  expected: number;
  received: number;
  /** Send time of each update (performance.now()). */
  sentAt: number[];
  /** One sample per delivery (first copy per receiver): index of the update and its latency in ms. */
  samples: { seq: number; latency: number }[];
  /** projectChange frames that were not a first delivery of one of our updates (e.g. server corrections). */
  extra: number;
  elapsedMs: number;
}

/** Updates go round 50 tasks; (task, percentDone) identifies the update for up to 5000 sends. */
const TASKS = 50;
/** Blocks of TASKS task ids used in turn (the smallest project must have BLOCKS * TASKS tasks). */
const BLOCKS = 20;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runTraffic(o: TrafficOptions): Promise<TrafficResult> {
  if (o.maxCount > TASKS * 100) throw new Error(`at most ${TASKS * 100} updates per run`);
  const base = (runs++ % BLOCKS) * TASKS;
  const update = (seq: number) => ({ id: base + 1 + (Math.floor(seq / 100) % TASKS), percentDone: seq % 100 });
  const seqOf = (id: number, percentDone: number) => (id - base - 1) * 100 + percentDone;
  const sentAt: number[] = [];
  const samples: { seq: number; latency: number }[] = [];
  let extra = 0;
  let allDelivered: (() => void) | null = null;
  let expected = Infinity;
  for (const receiver of o.receivers) {
    const seen = new Uint8Array(o.maxCount);
    receiver.onChange = (raw, at) => {
      const message = JSON.parse(raw.toString('utf8')) as { changes?: { tasks?: { updated?: { id: number; percentDone: number }[] } } };
      const record = message.changes?.tasks?.updated?.[0];
      const seq = record ? seqOf(record.id, record.percentDone) : -1;
      const t = sentAt[seq];
      if (t === undefined || seen[seq]) return void extra++;
      seen[seq] = 1;
      samples.push({ seq, latency: at - t });
      if (samples.length >= expected) allDelivered?.();
    };
  }
  o.sender.onChange = () => undefined;

  const t0 = performance.now();
  let seq = 0;
  for (; seq < o.maxCount && !(o.stop?.() ?? false); seq++) {
    const wait = t0 + seq * o.intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    const { id, percentDone } = update(seq);
    sentAt[seq] = performance.now();
    o.sender.send({ command: 'projectChange', project: o.project, changes: { tasks: { updated: [{ id, percentDone }] } } });
  }
  expected = seq * o.receivers.length;
  if (samples.length < expected) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.drainTimeoutMs);
      allDelivered = () => (clearTimeout(timer), resolve());
    });
  }
  const elapsedMs = performance.now() - t0;
  for (const receiver of o.receivers) receiver.onChange = null;
  o.sender.onChange = null;
  return { sent: seq, expected, received: samples.length, sentAt, samples, extra, elapsedMs };
}
