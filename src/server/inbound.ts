/**
 * Flow control for one socket's incoming frames. While more than `limit` bytes of its frames wait
 * to be handled, the socket is not read: a client sending faster than its changes commit is held
 * back by TCP instead of filling the server's memory, and nothing it sent is dropped.
 */

/** What a socket must offer (ws's WebSocket does). */
export interface Readable {
  pause(): void;
  resume(): void;
}

/** Bookkeeping of a waiting frame (closures, promises), counted so that floods of tiny frames count too. */
const FRAME_OVERHEAD = 512;

export class Inbound {
  private waiting = 0;
  private paused = false;
  /** How often reading was paused. */
  pauses = 0;

  constructor(
    private readonly socket: Readable,
    private readonly limit: number,
    /** Called the first time reading pauses, with the bytes waiting then. */
    private readonly onFirstPause: (waiting: number) => void = () => {},
  ) {}

  /** A frame of `bytes` arrived; call the returned function once it has been handled. */
  admit(bytes: number): () => void {
    const weight = bytes + FRAME_OVERHEAD;
    this.waiting += weight;
    if (!this.paused && this.waiting > this.limit) {
      this.paused = true;
      if (this.pauses++ === 0) this.onFirstPause(this.waiting);
      this.socket.pause();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.waiting -= weight;
      // Resuming at half the limit, not just below it, keeps a steady sender from toggling per frame.
      if (this.paused && this.waiting <= this.limit / 2) {
        this.paused = false;
        this.socket.resume();
      }
    };
  }

  /** Bytes (with per-frame overhead) waiting to be handled. */
  get waitingBytes(): number {
    return this.waiting;
  }
}
