/**
 * Tells history pages when a project's versions change, however they changed (an automatic
 * version, a client's or the CLI's request, a restore): the list is read again every second while
 * someone watches that project, and at once when this page itself made a change.
 */
import type { VersionMeta } from '../history/versions.js';

type Listener = (versions: readonly VersionMeta[]) => void;

interface Watched {
  listeners: Set<Listener>;
  last: string;
  timer: NodeJS.Timeout;
}

export class VersionWatch {
  private readonly projects = new Map<string, Watched>();

  constructor(
    private readonly read: (project: string) => Promise<VersionMeta[]>,
    private readonly everyMs = 1000,
  ) {}

  subscribe(project: string, current: readonly VersionMeta[], listener: Listener): () => void {
    let watched = this.projects.get(project);
    if (!watched) {
      const timer = setInterval(() => void this.check(project), this.everyMs);
      timer.unref();
      watched = { listeners: new Set(), last: signature(current), timer };
      this.projects.set(project, watched);
    }
    watched.listeners.add(listener);
    return () => {
      const w = this.projects.get(project);
      if (!w) return;
      w.listeners.delete(listener);
      if (w.listeners.size === 0) {
        clearInterval(w.timer);
        this.projects.delete(project);
      }
    };
  }

  /** Look now (the page just changed something). */
  poke(project: string): void {
    if (this.projects.has(project)) void this.check(project);
  }

  close(): void {
    for (const w of this.projects.values()) clearInterval(w.timer);
    this.projects.clear();
  }

  private async check(project: string): Promise<void> {
    let versions: VersionMeta[];
    try {
      versions = await this.read(project);
    } catch {
      return;
    }
    const watched = this.projects.get(project);
    if (!watched) return;
    const now = signature(versions);
    if (now === watched.last) return;
    watched.last = now;
    for (const listener of watched.listeners) listener(versions);
  }
}

function signature(versions: readonly VersionMeta[]): string {
  return versions.map((v) => `${v.n}:${v.time}:${v.label}`).join(',');
}
