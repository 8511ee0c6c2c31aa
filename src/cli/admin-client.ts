/** Calls to a running server's admin API with the CLI's token (from the sidecar file). */
export class AdminClient {
  constructor(
    readonly url: string,
    private readonly token: string,
    /** Why the data directory could not be opened directly, told when the server cannot be reached either (a stale sidecar). */
    private readonly openError = '',
  ) {}

  async call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', route: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      const cause = (e as { cause?: Error }).cause;
      const also = this.openError ? ` (and ${this.openError})` : '';
      throw new Error(`cannot reach the server at ${this.url}: ${cause?.message ?? (e as Error).message}${also}`);
    }
    const data = (await response.json().catch(() => null)) as { error?: unknown } | null;
    if (!response.ok) throw new Error(typeof data?.error === 'string' ? data.error : `server answered HTTP ${response.status}`);
    return data;
  }
}

export const projectPath = (project: string) => `/api/projects/${encodeURIComponent(project)}`;
