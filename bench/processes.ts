/**
 * Server child processes: start one, wait for its "listening on ws://..." line, read its memory
 * and CPU from /proc, ask it for a full GC, stop it. Every live child is remembered so the bench
 * can kill them all on any exit path.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const live = new Set<ChildProcess>();

/** SIGKILL every child still running (safe to call from an exit handler). */
export function killAllChildren(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface StartSpec {
  name: string;
  /** Script and its arguments (run with `node --expose-gc --import <gcPreload>`). */
  args: string[];
  gcPreload: string;
  timeoutMs: number;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** Extra environment variables of the child. */
  env?: Record<string, string>;
}

export interface Memory {
  rssKb: number;
  peakKb: number;
}

/** What the child reports right after a full GC (bytes, from process.memoryUsage()). */
export interface HeapReport {
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export class ServerProcess {
  private stderrText = '';
  /** Unfinished last stderr line. */
  private partialLine = '';
  private exited: Promise<number | null>;
  private gcWaiters: ((report: HeapReport | null) => void)[] = [];
  private readonly loadedProjects = new Set<string>();
  private loadWaiters: (() => void)[] = [];
  private readonly lineListeners: ((line: string) => void)[] = [];

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly url: string,
    exited: Promise<number | null>,
  ) {
    this.exited = exited;
  }

  static start(spec: StartSpec): Promise<ServerProcess> {
    const flags = ['--expose-gc', '--import', pathToFileURL(spec.gcPreload).href, ...(spec.nodeFlags ?? [])];
    const child = spawn(process.execPath, [...flags, ...spec.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: spec.env ? { ...process.env, ...spec.env } : process.env,
    });
    live.add(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (live.delete(child), resolve(code))));
    let server: ServerProcess | undefined;
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (server) server.onStderr(chunk);
      else stderr += chunk;
    });
    return new Promise<ServerProcess>((resolve, reject) => {
      let stdout = '';
      const fail = (why: string) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`${spec.name}: ${why}\nstdout: ${stdout.slice(-2000)}\nstderr: ${stderr.slice(-2000)}`));
      };
      const timer = setTimeout(() => fail(`no "listening" line within ${spec.timeoutMs} ms`), spec.timeoutMs);
      const early = (code: number | null) => fail(`exited with code ${code} before listening`);
      child.once('exit', early);
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (chunk: string) => {
        if (server) return;
        stdout += chunk;
        const match = /listening on (ws:\/\/\S+)\r?\n/.exec(stdout);
        if (!match) return;
        clearTimeout(timer);
        child.removeListener('exit', early);
        server = new ServerProcess(spec.name, child, match[1], exited);
        server.onStderr(stderr);
        resolve(server);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Send a signal (SIGKILL, SIGSTOP, SIGCONT ...); false when the process is gone. */
  signal(sig: NodeJS.Signals): boolean {
    try {
      return this.child.kill(sig);
    } catch {
      return false;
    }
  }

  /** Resolves with the exit code (null when killed by a signal) once the process is gone. */
  get exit(): Promise<number | null> {
    return this.exited;
  }

  private onStderr(chunk: string): void {
    this.stderrText = (this.stderrText + chunk).slice(-20_000);
    const lines = (this.partialLine + chunk).split('\n');
    this.partialLine = lines.pop()!.slice(-100_000);
    for (const line of lines) {
      for (const listener of this.lineListeners) listener(line);
      // Weft logs `project <id> loaded in <n> ms` once a project's document is loaded.
      const loaded = /project (\S+) loaded in \d+ ms/.exec(line);
      if (loaded) {
        this.loadedProjects.add(loaded[1]);
        for (const w of this.loadWaiters.splice(0)) w();
      }
      const match = /^\[gc-signal\] (\{.*\})$/.exec(line);
      if (!match) continue;
      let report: HeapReport | null = null;
      try {
        report = JSON.parse(match[1]) as HeapReport;
      } catch {
        /* unreadable report: the waiter still learns the GC ran */
      }
      for (const w of this.gcWaiters.splice(0)) w(report);
    }
  }

  /** Hear every whole line the process writes to stderr from now on (the tail keeps only the last ones). */
  onLine(listener: (line: string) => void): void {
    this.lineListeners.push(listener);
  }

  /** Last lines the process wrote to stderr (without the GC acknowledgements). */
  stderrTail(lines = 20): string {
    return this.stderrText
      .split('\n')
      .filter((l) => l && !l.startsWith('[gc-signal]'))
      .slice(-lines)
      .join('\n');
  }

  memory(): Memory {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKb: field('VmRSS'), peakKb: field('VmHWM') };
  }

  /** User + system CPU time of the whole process, in milliseconds. */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
  }

  /**
   * Resolves once the server has logged that it loaded `project`'s document (Weft serves a large
   * project's stored dataset texts before that); false after the timeout or for servers that never say.
   */
  async projectLoaded(project: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.loadedProjects.has(String(project))) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.loadWaiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
    return true;
  }

  /** Full GC in the child; resolves with its heap figures once it reports back (null after the timeout). */
  async collectGarbage(timeoutMs = 10_000): Promise<HeapReport | null> {
    const done = new Promise<HeapReport | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      this.gcWaiters.push((report) => (clearTimeout(timer), resolve(report)));
    });
    this.child.kill('SIGUSR2');
    return done;
  }

  /** SIGTERM and wait for a clean exit; SIGKILL after the timeout. */
  async stop(timeoutMs: number): Promise<{ code: number | null; ms: number; killed: boolean }> {
    const t0 = performance.now();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return { code: this.child.exitCode, ms: 0, killed: false };
    this.child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => ((killed = true), this.child.kill('SIGKILL')), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return { code, ms: performance.now() - t0, killed };
  }
}
