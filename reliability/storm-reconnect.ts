/**
 * How a simulated client comes back after its server went away, as a browser tab would: after a
 * random delay (jitter), then again and again while the server is not there yet, and what went
 * wrong on the way, told apart into what a client simply retries and what it should never see.
 */
import type { SimClient } from '../src/simulate/client.js';
import type { Random } from '../src/simulate/random.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Failures a client retries: nobody listening yet (connection refused), the connection dropped
 * while logging in or loading (the server stopping), the server saying it is busy or not ready (503).
 */
const RETRYABLE = [/ECONNREFUSED/, /ECONNRESET/, /socket hang up/, /connection closed/, /Unexpected server response: 503/];

export function isRetryable(message: string): boolean {
  return RETRYABLE.some((r) => r.test(message));
}

export class Reconnector {
  /** Failures of the retryable kind (counted, not judged). */
  retryable = 0;
  /** Anything else that went wrong while coming back. */
  readonly failures: string[] = [];
  /** performance.now() when the client was back online (null while it is not). */
  onlineAt: number | null = null;
  /** Called once the client is back (e.g. to write at once, while others are still away). */
  onBack: (() => void) | null = null;
  private storming = false;
  private returning: Promise<void> | null = null;

  constructor(
    private readonly client: SimClient,
    private readonly random: Random,
    private readonly jitterMs: number,
    private readonly giveUpMs: number,
  ) {
    // The client reconnects by itself when its socket closes (SocketClient.closed calls
    // goOnline); from now on that goes through this policy.
    const connect = client.goOnline.bind(client);
    client.goOnline = () => (this.storming ? (this.returning ??= this.comeBack(connect).finally(() => (this.returning = null))) : connect());
  }

  /** From now on a lost connection is followed by jitter and retries. */
  arm(): void {
    this.storming = true;
    this.onlineAt = null;
  }

  private async comeBack(connect: () => Promise<void>): Promise<void> {
    await sleep(this.random.int(0, this.jitterMs));
    const deadline = performance.now() + this.giveUpMs;
    while (performance.now() < deadline) {
      try {
        await connect();
        if (this.client.online) {
          this.onlineAt = performance.now();
          this.onBack?.();
          return;
        }
      } catch (e) {
        const message = String((e as Error)?.message ?? e);
        if (isRetryable(message)) this.retryable++;
        else this.failures.push(message);
      }
      await sleep(200 + this.random.int(0, 300));
    }
    this.failures.push(`${this.client.name}: not back within ${this.giveUpMs} ms`);
  }
}
