#!/usr/bin/env node
/**
 * Finds a Bryntum Gantt UMD bundle for `npm run test:bryntum`: BRYNTUM_BUNDLE when set, otherwise
 * the public trial package from the npm registry, unpacked into `.bryntum/` (git-ignored; never a
 * dependency of Weft). Prints the bundle's path; exits 1 with the reason when there is none.
 *
 *   node test/bryntum/install-bundle.mjs            install when missing, print the path
 *   node test/bryntum/install-bundle.mjs --check    print the path only if already there
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The build the suite was written against. */
export const PACKAGE = '@bryntum/gantt-trial@7.3.0';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const folder = join(root, '.bryntum');
export const INSTALLED = join(folder, 'package', 'gantt.umd.js');

function install() {
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // `npm pack` fetches the tarball without installing it anywhere or touching package.json.
  execFileSync(npm, ['pack', PACKAGE, '--silent', '--pack-destination', folder], { cwd: folder, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  const tarball = readdirSync(folder).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack ${PACKAGE} left no tarball in ${folder}`);
  // Unpacked under another name and renamed last, so a half-done install is never taken for one.
  execFileSync('tar', ['-xzf', tarball, '--transform=s,package/gantt.umd.js,package/gantt.umd.js.part,', 'package/gantt.umd.js', 'package/package.json'], { cwd: folder, stdio: 'inherit' });
  rmSync(join(folder, tarball));
  renameSync(`${INSTALLED}.part`, INSTALLED);
}

try {
  let path = process.env.BRYNTUM_BUNDLE;
  if (path && !existsSync(path)) throw new Error(`BRYNTUM_BUNDLE=${path} does not exist`);
  if (!path) {
    if (!existsSync(INSTALLED)) {
      if (process.argv.includes('--check')) throw new Error(`no bundle at ${INSTALLED}`);
      process.stderr.write(`Fetching ${PACKAGE} from the npm registry into ${folder} ...\n`);
      install();
    }
    path = INSTALLED;
  }
  process.stdout.write(`${path}\n`);
} catch (e) {
  process.stderr.write(`No Bryntum bundle: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
}
