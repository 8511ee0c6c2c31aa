#!/usr/bin/env node
/**
 * Prints the mutation score per source folder from Stryker's JSON report (`npm run mutation` writes
 * it). `--survivors` also lists every mutant no test noticed, as file:line and the change made.
 * `--only <ranges>` counts only mutants starting in the `file:from-to` ranges given (what was passed
 * to `--mutate`): the report also holds results it kept from earlier runs (the incremental file)
 * for mutants outside them, which may predate later tests or code.
 * Usage: node scripts/mutation-scores.mjs [report.json] [--survivors] [--only file:from-to,...]
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';

const args = process.argv.slice(2);
const listSurvivors = args.includes('--survivors');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? ranges(args[onlyAt + 1] ?? '') : null;
const reportPath = args.find((arg, i) => !arg.startsWith('--') && (onlyAt < 0 || i !== onlyAt + 1)) ?? 'reports/mutation/mutation.json';
const report = JSON.parse(readFileSync(reportPath, 'utf8'));

/** `file:from-to,...` (or `file` alone: every line) as a list of ranges. */
function ranges(text) {
  return text.split(',').filter(Boolean).map((part) => {
    const match = /^(.*?)(?::(\d+)-(\d+))?$/.exec(part);
    return { file: match[1], from: match[2] ? Number(match[2]) : 1, to: match[3] ? Number(match[3]) : Infinity };
  });
}
const inRanges = (file, line) => only === null || only.some((r) => r.file === file && line >= r.from && line <= r.to);

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);
const folders = new Map();
const survivors = [];

for (const [file, { mutants, source }] of Object.entries(report.files)) {
  const lines = source.split('\n');
  for (const mutant of mutants) {
    if (!inRanges(file, mutant.location.start.line)) continue;
    const counts = folders.get(dirname(file)) ?? { detected: 0, undetected: 0, noCoverage: 0, other: 0 };
    folders.set(dirname(file), counts);
    if (DETECTED.has(mutant.status)) counts.detected++;
    else if (UNDETECTED.has(mutant.status)) {
      counts.undetected++;
      if (mutant.status === 'NoCoverage') counts.noCoverage++;
      const { line } = mutant.location.start;
      survivors.push(`${file}:${line} ${mutant.status} ${mutant.mutatorName}: ${lines[line - 1].trim()}  ->  ${mutant.replacement ?? ''}`);
    } else counts.other++; // Ignored, CompileError, RuntimeError: not part of the score
  }
}

const percent = (part, whole) => (whole === 0 ? 'n/a' : `${((100 * part) / whole).toFixed(1)}%`);
console.log('folder'.padEnd(22), 'score'.padStart(7), 'killed'.padStart(7), 'survived'.padStart(9), 'no cover'.padStart(9), 'other'.padStart(6));
const total = { detected: 0, undetected: 0, noCoverage: 0, other: 0 };
for (const [folder, c] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
  for (const key of Object.keys(total)) total[key] += c[key];
  const row = [folder.padEnd(22), percent(c.detected, c.detected + c.undetected).padStart(7), String(c.detected).padStart(7)];
  console.log(...row, String(c.undetected - c.noCoverage).padStart(9), String(c.noCoverage).padStart(9), String(c.other).padStart(6));
}
console.log('all'.padEnd(22), percent(total.detected, total.detected + total.undetected).padStart(7), String(total.detected).padStart(7), String(total.undetected - total.noCoverage).padStart(9), String(total.noCoverage).padStart(9), String(total.other).padStart(6));
if (listSurvivors) for (const line of survivors) console.log(line);
