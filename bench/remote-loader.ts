/**
 * The bench's side of bench/loader-process.ts: loading clients in a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./loader-process.js', import.meta.url));

export class RemoteLoader {
  private constructor(
    private readonly child: ChildProcess,
    private readonly lines: AsyncIterator<string>,
    private readonly reader: Interface,
  ) {}

  /** Start `count` logged-in clients of `url` in a process of their own. */
  static async start(url: string, project: number, count: number, timeoutMs: number): Promise<RemoteLoader> {
    const child = spawn(process.execPath, [MAIN, url, String(project), String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const reader = createInterface({ input: child.stdout! });
    const loader = new RemoteLoader(child, reader[Symbol.asyncIterator](), reader);
    const ready = await loader.nextLine(timeoutMs).catch(async (e) => {
      await loader.close();
      throw e;
    });
    if (ready !== 'ready') {
      await loader.close();
      throw new Error(`loader process: expected "ready", got ${JSON.stringify(ready)}`);
    }
    return loader;
  }

  /** The next client loads the project; resolves with the load time its process measured. */
  async load(timeoutMs: number): Promise<{ ms: number; bytes: number }> {
    this.child.stdin!.write('load\n');
    const reply = JSON.parse(await this.nextLine(timeoutMs)) as { ms?: number; bytes?: number; error?: string };
    if (reply.error !== undefined) throw new Error(`loader process: ${reply.error}`);
    return { ms: reply.ms!, bytes: reply.bytes! };
  }

  async close(): Promise<void> {
    this.reader.close();
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private async nextLine(timeoutMs: number): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`loader process: no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const next = await Promise.race([this.lines.next(), timeout]);
      if (next.done) throw new Error('loader process exited');
      return next.value;
    } finally {
      clearTimeout(timer);
    }
  }
}
