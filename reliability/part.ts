/**
 * What every reliability part gives back: figures, each with the rule it must meet, and whether
 * the part as a whole kept its rules. A part throws only when it could not run at all.
 */
export interface Figure {
  /** What was measured, e.g. "acknowledged changes checked". */
  figure: string;
  value: string;
  /** The rule, e.g. "= 0" or "<= 1.2x"; empty for figures that are reported, not judged. */
  rule: string;
  /** False breaks the part (and the exit code). Undefined: reported only. */
  ok?: boolean;
}

export interface PartResult {
  figures: Figure[];
  /** Lines explaining a broken rule (first problems found, seeds to replay). */
  problems: string[];
}

export interface PartContext {
  /** Shortened run (`--quick`): fewer cycles, fewer messages, shorter soak. */
  quick: boolean;
  /** Seed of everything random in the part; printed so a run can be replayed. */
  seed: number;
  /** A fresh temp directory for this part (removed afterwards unless --keep). */
  workDir: string;
  /** Progress line on stderr. */
  log(line: string): void;
  /**
   * Set for a part run beside others (the soak beside the fuzz): resolves when they are done, so
   * the part can take its measurements on a quiet machine.
   */
  besideDone?: Promise<void>;
  /** Overrides of a part's own sizes: `--set crash.cycles=10` gives { cycles: '10' } to part "crash". */
  settings: Map<string, string>;
}

export interface Part {
  name: string;
  /**
   * The part this one runs beside, at the same time (a light part beside a heavy one, to keep the
   * whole run short); it gets `besideDone`. Run alone when that part is not selected.
   */
  beside?: string;
  /** One line for --help. */
  summary: string;
  run(ctx: PartContext): Promise<PartResult>;
}

/** A numeric setting of the part, or its default. */
export function setting(ctx: PartContext, key: string, full: number, quick: number): number {
  const raw = ctx.settings.get(key);
  if (raw !== undefined) {
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--set ${key}=${raw}: not a number >= 0`);
    return value;
  }
  return ctx.quick ? quick : full;
}
