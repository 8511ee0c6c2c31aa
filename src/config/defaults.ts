import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { ConfigInput } from './schema.js';

/** The package root (two levels above this file in src/ and in dist/src/). */
export const PACKAGE_ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../' : '../../', import.meta.url));
export const SEED_DIR = join(PACKAGE_ROOT, 'storage', 'seed');

/** The demo setup: three projects, three accounts, anonymous logins for project 1. */
export function defaultConfig(): ConfigInput {
  return {
    host: '127.0.0.1',
    port: 8080,
    dataDir: join(PACKAGE_ROOT, 'storage', 'db'),
    projects: [
      { id: 1, name: 'SaaS', seed: join(SEED_DIR, 'saas.json') },
      { id: 2, name: 'Website', seed: join(SEED_DIR, 'website.json') },
      { id: 3, name: 'Backend', seed: join(SEED_DIR, 'backend.json') },
    ],
    users: {
      admin: { password: 'admin', group: 'admin' },
      alex: { password: 'alex', group: 'user' },
      ben: { password: 'ben', group: 'user' },
    },
    groups: { admin: [1, 2, 3], user: [1, 2] },
    anonymous: { enabled: true, projects: [1] },
  };
}
