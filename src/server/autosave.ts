/**
 * Autosave permission (PROTOCOL.md §9.1): several clients run the same autosave timer and only one
 * of them should save, so a project grants at most one request per interval.
 */
import type { ProjectId } from '../protocol/schemas.js';

export class AutoSaveGrants {
  private readonly lastGrant = new Map<ProjectId, number>();
  private readonly minIntervalMs: number;

  constructor(autoSaveIntervalMins: number, private readonly now: () => number = Date.now) {
    this.minIntervalMs = Math.max(1, autoSaveIntervalMins - 1) * 60_000;
  }

  request(project: ProjectId): boolean {
    const last = this.lastGrant.get(project);
    const now = this.now();
    if (last !== undefined && !(now - last > this.minIntervalMs)) return false;
    this.lastGrant.set(project, now);
    return true;
  }
}
