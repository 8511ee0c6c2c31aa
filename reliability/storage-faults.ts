/**
 * Part "storage-faults" of npm run reliability: a full disk under writing clients
 * (storage-full-disk.ts) and damaged stored data found at load and by `weft storage check`
 * (storage-corruption.ts).
 *
 * Settings (--set storage-faults.KEY=N): clients (per generation), before, whileFull, after
 * (changes per client in each phase), megabytes (size of the tmpfs), inject (1: inject the write
 * faults in process instead of filling a tmpfs, as where mounting is not permitted), projects
 * (undamaged ones beside the damaged), changes (per project before damage).
 */
import { setting, type Figure, type Part, type PartContext, type PartResult } from './part.js';
import { runFullDisk, type FullDiskResult } from './storage-full-disk.js';
import { runCorruption, type CorruptionResult } from './storage-corruption.js';

function fullDiskFigures(full: FullDiskResult): PartResult {
  const figures: Figure[] = [
    { figure: 'full disk made by', value: full.rig, rule: '' },
    { figure: 'changes refused while full', value: String(full.refusedWhileFull), rule: '> 0', ok: full.refusedWhileFull > 0 },
    { figure: 'changes stored while filling', value: String(full.confirmedWhileFull), rule: '' },
    { figure: 'refusals without a clear error', value: String(full.unclearRefusals.length), rule: '= 0', ok: full.unclearRefusals.length === 0 },
    { figure: 'told but not stored', value: `${full.toldNotStored.length} of ${full.confirmedChecked}`, rule: '= 0', ok: full.toldNotStored.length === 0 && full.confirmedChecked > 0 },
    { figure: 'unhandled errors in the server', value: String(full.escaped.length), rule: '= 0', ok: full.escaped.length === 0 },
    { figure: 'reads served while full', value: full.readsWhileFull ? 'yes' : 'no', rule: 'yes', ok: full.readsWhileFull },
    { figure: 'writes after space is back', value: `${full.writesAfterFree} of ${full.writesAfterFreeTried}`, rule: 'all', ok: full.writesAfterFreeTried > 0 && full.writesAfterFree === full.writesAfterFreeTried },
  ];
  const problems = [
    ...full.problems,
    ...full.escaped.slice(0, 3),
    ...full.unclearRefusals.slice(0, 3).map((r) => `unclear refusal ${r.slice(0, 300)}`),
    ...(full.toldNotStored.length ? [`told but not stored: ${full.toldNotStored.slice(0, 10).join(', ')}`] : []),
  ];
  return { figures, problems: problems.map((p) => `full disk: ${p}`) };
}

function damageFigures(damaged: CorruptionResult): PartResult {
  const all = (n: number) => `${n} of ${damaged.damaged}`;
  const figures: Figure[] = [
    { figure: 'storage check on an undamaged store', value: `exit ${damaged.checkBeforeExit}`, rule: 'exit 0', ok: damaged.checkBeforeExit === 0 },
    { figure: 'damaged projects reported by check', value: all(damaged.reportedByCheck), rule: 'all, exit 1', ok: damaged.damaged > 0 && damaged.reportedByCheck === damaged.damaged && damaged.checkAfterExit === 1 },
    { figure: 'damaged projects reported by load', value: all(damaged.reportedByLoad), rule: 'all', ok: damaged.damaged > 0 && damaged.reportedByLoad === damaged.damaged },
    { figure: 'other projects affected', value: String(damaged.othersAffected), rule: '= 0', ok: damaged.othersAffected === 0 },
  ];
  return { figures, problems: damaged.problems.map((p) => `damaged data: ${p}`) };
}

async function run(ctx: PartContext): Promise<PartResult> {
  const full = fullDiskFigures(
    await runFullDisk(ctx, {
      clientsPerGeneration: setting(ctx, 'clients', 2, 1),
      before: setting(ctx, 'before', 30, 10),
      whileFull: setting(ctx, 'whileFull', 20, 10),
      after: setting(ctx, 'after', 10, 5),
      megabytes: setting(ctx, 'megabytes', 32, 32),
      inject: setting(ctx, 'inject', 0, 0) > 0,
    }),
  );
  const damaged = damageFigures(await runCorruption(ctx, { others: setting(ctx, 'projects', 5, 2), changes: setting(ctx, 'changes', 40, 20) }));
  return { figures: [...full.figures, ...damaged.figures], problems: [...full.problems, ...damaged.problems] };
}

export const storageFaultsPart: Part = {
  name: 'storage-faults',
  summary: 'full disk under writers; damaged snapshot chunks and log entries found at load and by weft storage check',
  run,
};
