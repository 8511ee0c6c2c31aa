#!/usr/bin/env node
/**
 * A seeded random sample of code lines of some folders, as Stryker's `--mutate` takes them
 * (`file:line-line`, comma-separated): the mutation score of a sample estimates a folder's score
 * when testing all of its mutants would take days (docs/MUTATION.md).
 *
 * Usage: node scripts/mutation-sample.mjs [--lines N] [--seed S] FOLDER...
 *   npm run mutation -- --ignoreStatic --mutate "$(node scripts/mutation-sample.mjs --lines 20 src/persistence)"
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const usage = 'usage: node scripts/mutation-sample.mjs [--lines N] [--seed S] FOLDER...';
if (args.includes('--help') || args.includes('-h')) {
  console.log(usage);
  process.exit(0);
}
let lines = 20;
let seed = 1;
const folders = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--lines') lines = Number(args[++i]);
  else if (args[i] === '--seed') seed = Number(args[++i]);
  else if (args[i].startsWith('-')) {
    console.error(`unknown option ${args[i]}\n${usage}`);
    process.exit(2);
  } else folders.push(args[i]);
}
if (!folders.length || !Number.isInteger(lines) || lines < 1 || !Number.isInteger(seed)) {
  console.error(usage);
  process.exit(2);
}

/** mulberry32: the same sample for the same seed. */
function random(state) {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function files(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
    });
}

/** Lines that can hold a mutant: not blank, not a comment, not an import or a type alone. */
const isCode = (text) => {
  const t = text.trim();
  return t !== '' && !/^(\/\/|\/\*|\*|import |export type |type |interface |})/.test(t) && !/^[\])};,]+$/.test(t);
};

const next = random(seed);
const picked = [];
for (const folder of folders) {
  const candidates = files(folder).flatMap((file) => readFileSync(file, 'utf8').split('\n').flatMap((text, i) => (isCode(text) ? [`${file}:${i + 1}-${i + 1}`] : [])));
  for (let k = 0; k < Math.min(lines, candidates.length); k++) {
    const j = k + Math.floor(next() * (candidates.length - k));
    [candidates[k], candidates[j]] = [candidates[j], candidates[k]];
    picked.push(candidates[k]);
  }
}
process.stdout.write(picked.join(','));
