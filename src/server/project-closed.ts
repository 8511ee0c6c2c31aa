/**
 * What a project's room answers a reset or restore that waited in its queue while the project was
 * deleted or unloaded: told to the client as the project's error, not logged as a server fault.
 */
export class ProjectClosed extends Error {}
