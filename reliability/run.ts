/**
 * `npm run reliability`: real Weft processes on 127.0.0.1 under crashes, fuzzing, slow readers,
 * reconnect storms, storage faults and a soak. Prints one table of figures and exits non-zero
 * when any part broke its rule.
 *
 *   npm run reliability -- --part crash,fuzz   only these parts
 *   npm run reliability -- --quick             shortened (minutes, not twenty)
 *   npm run reliability -- --seed 42           replay the random choices of a run
 *   npm run reliability -- --set crash.cycles=10 --set soak.minutes=2
 *   npm run reliability -- --keep             keep the temp directories (paths are printed)
 *   RELIABILITY_CPU_PROF=DIR                  Weft processes write CPU profiles to DIR
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAllChildren } from '../bench/processes.js';
import type { Figure, Part, PartResult } from './part.js';
import { PARTS, stages } from './parts.js';

interface Options {
  parts: Part[];
  quick: boolean;
  seed: number;
  keep: boolean;
  settings: Map<string, Map<string, string>>;
}

function usage(): string {
  const lines = [
    'Usage: npm run reliability -- [--part NAMES] [--quick] [--seed N] [--set PART.KEY=VALUE] [--keep]',
    '',
    'Parts (all by default, in this order):',
    ...PARTS.map((p) => `  ${p.name.padEnd(10)} ${p.summary}`),
    '',
    'Options:',
    '  --part a,b          run only these parts',
    '  --quick             shortened run: fewer cycles and messages, a short soak',
    '  --seed N            seed of the random choices (printed at the start of every run)',
    '  --set P.K=V         override a size of part P (see each part\'s file for its keys)',
    '  --keep              keep temp directories',
    '  -h, --help          show this help',
    '',
    'Exit code: 0 when every rule held, 1 when one broke, 2 for bad options.',
  ];
  return lines.join('\n');
}

function parseArgs(argv: string[]): Options {
  const options: Options = { parts: PARTS, quick: false, seed: Date.now() % 2 ** 31, keep: false, settings: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${usage()}\n`);
      process.exit(0);
    } else if (arg === '--quick') options.quick = true;
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--seed') {
      const seed = Number(value());
      if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed: a whole number >= 0');
      options.seed = seed;
    } else if (arg === '--part') {
      const names = value().split(',').filter(Boolean);
      const unknown = names.filter((n) => !PARTS.some((p) => p.name === n));
      if (unknown.length) throw new UsageError(`unknown part(s): ${unknown.join(', ')} (parts: ${PARTS.map((p) => p.name).join(', ')})`);
      options.parts = PARTS.filter((p) => names.includes(p.name));
    } else if (arg === '--set') {
      const match = /^([a-z-]+)\.([A-Za-z]+)=(.+)$/.exec(value());
      if (!match) throw new UsageError('--set: PART.KEY=VALUE');
      const [, part, key, v] = match;
      if (!options.settings.has(part)) options.settings.set(part, new Map());
      options.settings.get(part)!.set(key, v);
    } else throw new UsageError(`unknown option ${arg}`);
  }
  return options;
}

class UsageError extends Error {}

function table(rows: { part: string; f: Figure }[]): string {
  const cells = rows.map(({ part, f }) => [part, f.figure, f.value, f.rule, f.ok === undefined ? '' : f.ok ? 'PASS' : 'FAIL']);
  const head = ['part', 'figure', 'value', 'rule', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** One part in a temp directory of its own: its figures and problems, with its duration. */
async function runPart(part: Part, options: Options, stamp: () => string, besideDone?: Promise<void>): Promise<PartResult> {
  const workDir = mkdtempSync(join(tmpdir(), `weft-rel-${part.name}-`));
  const log = (line: string) => process.stderr.write(`[${stamp()}s ${part.name}] ${line}\n`);
  const started = performance.now();
  let result: PartResult;
  try {
    result = await part.run({ quick: options.quick, seed: options.seed, workDir, log, besideDone, settings: options.settings.get(part.name) ?? new Map() });
  } catch (err) {
    result = { figures: [{ figure: 'ran to the end', value: 'no', rule: 'yes', ok: false }], problems: [String((err as Error)?.stack ?? err)] };
  } finally {
    if (options.keep) log(`kept ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  result.figures.push({ figure: 'duration', value: `${seconds.toFixed(0)} s`, rule: '' });
  log(result.figures.some((f) => f.ok === false) ? 'FAILED' : 'passed');
  return result;
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${usage()}\n`);
    return 2;
  }
  const t0 = performance.now();
  const stamp = () => ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`reliability: seed ${options.seed}${options.quick ? ', quick' : ''}; parts ${options.parts.map((p) => p.name).join(', ')}\n`);
  const results = new Map<Part, PartResult>();
  for (const stage of stages(options.parts)) {
    const [main, ...beside] = stage;
    let mainDone = () => {};
    const besideDone = new Promise<void>((resolve) => (mainDone = resolve));
    const running = [
      runPart(main, options, stamp).finally(mainDone),
      ...beside.map((part) => runPart(part, options, stamp, besideDone)),
    ];
    const outcomes = await Promise.all(running);
    // Children a part left behind (one that threw): none outlives its stage.
    killAllChildren();
    stage.forEach((part, i) => results.set(part, outcomes[i]));
  }
  const rows: { part: string; f: Figure }[] = [];
  const problems: string[] = [];
  for (const part of options.parts) {
    const result = results.get(part)!;
    for (const f of result.figures) rows.push({ part: part.name, f });
    for (const p of result.problems) problems.push(`[${part.name}] ${p}`);
  }
  const broken = rows.some((r) => r.f.ok === false);
  process.stdout.write(`\nReliability (seed ${options.seed}${options.quick ? ', quick' : ''})\n\n${table(rows)}\n`);
  if (problems.length) process.stdout.write(`\nProblems:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.stdout.write(`\n${broken ? 'FAIL: a rule was broken' : 'PASS: every rule held'}\n`);
  return broken ? 1 : 0;
}

process.on('exit', () => killAllChildren());
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);
