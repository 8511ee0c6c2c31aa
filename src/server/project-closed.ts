/**
 * What a project's room answers a reset or restore that waited in its queue while the project was
 * deleted or unloaded: told to the client as the project's error (`project` says which), not
 * logged as a server fault. Any command meeting it gets that answer (see WeftServer.handle).
 */
import type { ProjectId } from '../protocol/schemas.js';

export class ProjectClosed extends Error {
  constructor(
    readonly project: ProjectId,
    message: string,
  ) {
    super(message);
  }
}
