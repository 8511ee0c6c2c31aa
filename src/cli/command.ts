/** What every `weft <command>` module provides, so main.ts can dispatch and list them. */
export interface Command {
  /** One line for the command list in `weft --help`. */
  summary: string;
  /** Full text for `weft <command> --help`. */
  help(): string;
  /** Runs the command; the returned code becomes the exit code (long-running commands return once started). */
  run(args: string[]): Promise<number>;
}

/** Bad command-line usage: reported with a usage hint and exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    /** The command whose `--help` the hint points to. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** parseArgs reports bad flags as TypeErrors with an ERR_PARSE_ARGS_* code. */
export function isParseArgsError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
