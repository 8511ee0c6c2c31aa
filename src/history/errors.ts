/** A history request that cannot be served as asked; `status` is its HTTP status. */
export class HistoryError extends Error {
  override name = 'HistoryError';
  constructor(
    message: string,
    readonly status: 400 | 404 | 409 = 400,
  ) {
    super(message);
  }
}
