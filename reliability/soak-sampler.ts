/**
 * Samples a Weft process while it runs: its RSS from /proc, and the delay of its own event loop
 * from its Prometheus endpoint. prom-client's default metrics keep a perf_hooks event-loop delay
 * histogram that is read and reset at every scrape, so each scrape gives the delays of the period
 * since the previous one, measured inside the server (not disturbed by the clients' process).
 */
import type { Weft } from './weft-process.js';
import type { Sample } from './soak-trend.js';

/** perf_hooks samples the loop every 10 ms (prom-client's default) and counts that interval in each delay. */
const MONITOR_RESOLUTION_MS = 10;

export interface SoakSamples {
  rssMb: Sample[];
  /** p99 and mean of the event-loop delay per sampling period, in ms, the 10 ms resolution taken off. */
  loopP99Ms: Sample[];
  loopMeanMs: Sample[];
  /** Where RSS goes: V8's heap as allocated (live objects and garbage not yet collected) and memory outside it (Buffers, LevelDB's values). */
  heapTotalMb: Sample[];
  externalMb: Sample[];
  /** Scrapes that failed (no answer within the timeout, or no event-loop figures in it). */
  failedScrapes: number;
}

/** A gauge's value from Prometheus text format (no labels), or undefined. */
export function metricValue(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  return Number.isFinite(value) ? value : undefined;
}

export class Sampler {
  readonly samples: SoakSamples = { rssMb: [], loopP99Ms: [], loopMeanMs: [], heapTotalMb: [], externalMb: [], failedScrapes: 0 };
  private timer: NodeJS.Timeout | null = null;
  private readonly startedAt = performance.now();
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly weft: Weft,
    private readonly metricsToken: string,
    private readonly periodMs: number,
  ) {}

  /** The first scrape only resets the server's histogram (its figures cover the start-up). */
  start(): void {
    this.pending = this.scrape().then(() => undefined);
    this.timer = setInterval(() => {
      this.pending = this.pending.then(() => this.sample());
    }, this.periodMs);
  }

  async stop(): Promise<SoakSamples> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pending;
    return this.samples;
  }

  private async sample(): Promise<void> {
    const atSeconds = (performance.now() - this.startedAt) / 1000;
    this.samples.rssMb.push({ atSeconds, value: this.weft.process.memory().rssKb / 1024 });
    const text = await this.scrape();
    const p99 = text === null ? undefined : metricValue(text, 'weft_nodejs_eventloop_lag_p99_seconds');
    const mean = text === null ? undefined : metricValue(text, 'weft_nodejs_eventloop_lag_mean_seconds');
    if (p99 === undefined || mean === undefined) {
      this.samples.failedScrapes++;
      return;
    }
    const heapTotal = metricValue(text!, 'weft_nodejs_heap_size_total_bytes');
    const external = metricValue(text!, 'weft_nodejs_external_memory_bytes');
    if (heapTotal !== undefined) this.samples.heapTotalMb.push({ atSeconds, value: heapTotal / 2 ** 20 });
    if (external !== undefined) this.samples.externalMb.push({ atSeconds, value: external / 2 ** 20 });
    const ms = (seconds: number) => Math.max(0, seconds * 1000 - MONITOR_RESOLUTION_MS);
    this.samples.loopP99Ms.push({ atSeconds, value: ms(p99) });
    this.samples.loopMeanMs.push({ atSeconds, value: ms(mean) });
  }

  private async scrape(): Promise<string | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.weft.port}/metrics`, {
        headers: { authorization: `Bearer ${this.metricsToken}` },
        signal: AbortSignal.timeout(5000),
      });
      return res.ok ? await res.text() : null;
    } catch {
      return null;
    }
  }
}
