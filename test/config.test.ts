import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { SEED_DIR } from '../src/config/defaults.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(content: unknown, name = 'weft.json'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

async function seedFile(name: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, '{}');
  return path;
}

/** Awaits a rejected loadConfig and returns its message. */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected loadConfig to fail');
}

describe('loadConfig defaults', () => {
  it('gives the demo projects 1 SaaS, 2 Website and 3 Backend with existing seed files', async () => {
    const config = await loadConfig({ env: {} });
    expect(config.projects.map((p) => [p.id, p.name])).toEqual([
      [1, 'SaaS'],
      [2, 'Website'],
      [3, 'Backend'],
    ]);
    for (const project of config.projects) {
      expect(project.seed?.startsWith(SEED_DIR)).toBe(true);
      expect(existsSync(project.seed!)).toBe(true);
    }
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(8080);
    expect(config.anonymous).toEqual({ enabled: true, projects: [1], readOnly: false });
    expect(config.groups).toEqual({ admin: [1, 2, 3], user: [1, 2] });
  });

  it('fills the optional sections with the schema defaults', async () => {
    const config = await loadConfig({ env: {} });
    expect(config.generation).toBe('auto');
    expect(config.storage.sync).toBe(false);
    expect(config.storage).toMatchObject({ quietMs: 1000, quietMaxMs: 30_000 });
    expect(config.datasetKeys).toBe('legacy');
    expect(config.limits.maxMessageBytes).toBe(16 * 1024 * 1024);
  });
});

describe('loadConfig with a config file', () => {
  it('replaces projects, users and groups wholesale and can disable anonymous logins', async () => {
    const file = await configFile({
      projects: [{ id: 'alpha', name: 'Alpha' }],
      users: { carol: { password: 'secret', group: 'team' } },
      groups: { team: ['alpha'] },
      anonymous: { enabled: false, projects: [] },
    });
    const config = await loadConfig({ file, env: {} });
    expect(config.projects).toEqual([{ id: 'alpha', name: 'Alpha', ids: 'number' }]);
    expect(config.users).toEqual({ carol: { password: 'secret', group: 'team' } });
    expect(config.groups).toEqual({ team: ['alpha'] });
    expect(config.anonymous).toEqual({ enabled: false, projects: [], readOnly: false });
  });

  it('merges nested sections key by key so unspecified settings keep their defaults', async () => {
    const file = await configFile({ anonymous: { enabled: false }, limits: { maxMessageBytes: 1000 } });
    const config = await loadConfig({ file, env: {} });
    expect(config.anonymous).toEqual({ enabled: false, projects: [1], readOnly: false });
    expect(config.limits.maxMessageBytes).toBe(1000);
    expect(config.limits.maxFrameBytes).toBe(64 * 1024 * 1024);
    expect(config.limits.maxQueuedBytes).toBe(32 * 1024 * 1024);
    expect(config.projects).toHaveLength(3);
  });

  it('resolves relative seed paths and dataDir against the config file directory', async () => {
    await mkdir(join(dir, 'seeds'));
    await seedFile('seeds/one.json');
    await mkdir(join(dir, 'conf'));
    const file = await configFile(
      { dataDir: 'db', projects: [{ id: 1, name: 'One', seed: '../seeds/one.json' }, { id: 2, name: 'Empty' }], groups: { admin: [1, 2], user: [1] } },
      'conf/weft.json',
    );
    const config = await loadConfig({ file, env: {} });
    expect(config.projects[0].seed).toBe(join(dir, 'seeds', 'one.json'));
    expect(config.projects[1].seed).toBeUndefined();
    expect(config.dataDir).toBe(join(dir, 'conf', 'db'));
  });

  it('reads the file named by WEFT_CONFIG when no file option is given', async () => {
    const file = await configFile({ host: '0.0.0.0' });
    const config = await loadConfig({ env: { WEFT_CONFIG: file } });
    expect(config.host).toBe('0.0.0.0');
  });
});

describe('loadConfig precedence', () => {
  it('lets environment variables override the config file', async () => {
    const file = await configFile({ host: '0.0.0.0', port: 9000, generation: 'classic' });
    const config = await loadConfig({
      file,
      env: {
        WEFT_HOST: '::1',
        WEFT_PORT: '9100',
        WEFT_GENERATION: 'revisions',
        WEFT_SYNC: '1',
        WEFT_MAX_MESSAGE_BYTES: '2048',
        WEFT_INACTIVITY_RESET_SECONDS: '30',
        WEFT_AUTOSAVE_INTERVAL_MINS: '5',
      },
    });
    expect(config.host).toBe('::1');
    expect(config.port).toBe(9100);
    expect(config.generation).toBe('revisions');
    expect(config.storage.sync).toBe(true);
    expect(config.storage.compactAfterUpdates).toBe(500);
    expect(config.limits.maxMessageBytes).toBe(2048);
    expect(config.inactivityResetSeconds).toBe(30);
    expect(config.autoSaveIntervalMins).toBe(5);
  });

  it('lets flags override environment variables', async () => {
    const config = await loadConfig({
      env: { WEFT_HOST: '0.0.0.0', WEFT_PORT: '9100', WEFT_DATA_DIR: '/tmp/from-env' },
      flags: { host: 'localhost', port: 0, dataDir: '/tmp/from-flag' },
    });
    expect(config.host).toBe('localhost');
    expect(config.port).toBe(0);
    expect(config.dataDir).toBe('/tmp/from-flag');
  });

  it('resolves a relative dataDir from the environment or a flag against the working directory', async () => {
    expect((await loadConfig({ env: { WEFT_DATA_DIR: 'env-db' } })).dataDir).toBe(resolve('env-db'));
    expect((await loadConfig({ env: {}, flags: { dataDir: 'flag-db' } })).dataDir).toBe(resolve('flag-db'));
  });
});

describe('loadConfig cluster settings', () => {
  it('has no cluster by default, and takes one from WEFT_REDIS_URL and WEFT_NODE_ID with its defaults', async () => {
    expect((await loadConfig({ env: {} })).cluster).toBeUndefined();
    const config = await loadConfig({ env: { WEFT_REDIS_URL: 'redis://127.0.0.1:6379', WEFT_NODE_ID: 'n1' } });
    expect(config.cluster).toEqual({ redis: 'redis://127.0.0.1:6379', nodeId: 'n1', leaseMs: 10_000, requestTimeoutMs: 10_000, prefix: 'weft' });
  });

  it('lets the --redis and --node-id flags win over the environment and keeps the file settings beside them', async () => {
    const file = await configFile({ cluster: { redis: 'redis://file:1', leaseMs: 2000 } });
    const config = await loadConfig({ file, env: { WEFT_REDIS_URL: 'redis://env:2', WEFT_NODE_ID: 'env' }, flags: { redis: 'redis://flag:3', nodeId: 'flag' } });
    expect(config.cluster).toMatchObject({ redis: 'redis://flag:3', nodeId: 'flag', leaseMs: 2000 });
  });

  it('asks for the Redis URL when only a node id is given, and refuses a URL that is not redis://', async () => {
    expect(await failure(loadConfig({ env: { WEFT_NODE_ID: 'n1' } }))).toContain('cluster.redis: required with any cluster setting');
    expect(await failure(loadConfig({ env: { WEFT_REDIS_URL: 'http://127.0.0.1:6379' } }))).toContain('cluster.redis: expected a redis:// or rediss:// URL');
    const file = await configFile({ cluster: { redis: 'redis://h:1', prefix: 'a{b}' } });
    expect(await failure(loadConfig({ file, env: {} }))).toContain('cluster.prefix');
  });
});

describe('loadConfig errors', () => {
  it('names the field path when a project id is an object', async () => {
    const file = await configFile({ projects: [{ id: { nested: 1 }, name: 'Bad' }] });
    const message = await failure(loadConfig({ file, env: {} }));
    expect(message).toContain('invalid configuration');
    expect(message).toContain('projects[0].id: project must be a number or a non-empty string');
  });

  it('names datasetKeys when it is neither "legacy" nor "plain"', async () => {
    const file = await configFile({ datasetKeys: 'short' });
    const message = await failure(loadConfig({ file, env: {} }));
    expect(message).toMatch(/datasetKeys: .*"legacy".*"plain"/);
  });

  it('lists every schema issue on its own line', async () => {
    const file = await configFile({ port: 'x', projects: [{ id: 1 }] });
    const message = await failure(loadConfig({ file, env: {} }));
    const lines = message.split('\n');
    expect(lines.some((line) => line.includes('port:'))).toBe(true);
    expect(lines.some((line) => line.includes('projects[0].name:'))).toBe(true);
  });

  it('names the user whose group does not exist', async () => {
    const file = await configFile({ users: { dave: { password: 'd', group: 'ghosts' } } });
    const message = await failure(loadConfig({ file, env: {} }));
    expect(message).toContain('users.dave.group: unknown group "ghosts"');
  });

  it('names the group that lists a project that does not exist', async () => {
    const file = await configFile({ groups: { admin: [1, 2, 3], user: [1, 4] } });
    const message = await failure(loadConfig({ file, env: {} }));
    expect(message).toContain('groups.user: unknown project 4');
  });

  it('treats the string "1" and the number 1 as different projects', async () => {
    const file = await configFile({ anonymous: { projects: ['1'] } });
    const message = await failure(loadConfig({ file, env: {} }));
    expect(message).toContain('anonymous.projects: unknown project "1"');
  });

  it('refuses duplicate project ids', async () => {
    const file = await configFile({
      projects: [
        { id: 1, name: 'A' },
        { id: 1, name: 'B' },
      ],
      groups: { admin: [1], user: [1] },
    });
    const message = await failure(loadConfig({ file, env: {} }));
    expect(message).toContain('projects[1].id: duplicate project id 1');
  });

  it('names the project whose seed file is missing and its path', async () => {
    const file = await configFile({ projects: [{ id: 1, name: 'One', seed: 'missing.json' }], groups: { admin: [1], user: [1] } });
    const message = await failure(loadConfig({ file, env: {} }));
    expect(message).toContain(`projects[0].seed: seed file not found: ${join(dir, 'missing.json')}`);
  });

  it('names WEFT_PORT when it is not a number', async () => {
    const message = await failure(loadConfig({ env: { WEFT_PORT: 'eighty' } }));
    expect(message).toContain('WEFT_PORT');
    expect(message).toContain('eighty');
  });

  it('names WEFT_GENERATION and WEFT_SYNC when their values are not recognised', async () => {
    expect(await failure(loadConfig({ env: { WEFT_GENERATION: 'new' } }))).toContain('WEFT_GENERATION');
    expect(await failure(loadConfig({ env: { WEFT_SYNC: 'maybe' } }))).toContain('WEFT_SYNC');
  });

  it('names the config file when it holds invalid JSON', async () => {
    const file = await configFile('{ "host": ');
    const message = await failure(loadConfig({ file, env: {} }));
    expect(message).toMatch(new RegExp(`^config file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON`));
  });

  it('names the config file when it cannot be read', async () => {
    const file = join(dir, 'absent.json');
    const message = await failure(loadConfig({ file, env: {} }));
    expect(message).toContain(`config file ${file}:`);
  });
});
