/**
 * Builds the effective configuration: defaults, then a JSON config file, then environment
 * variables, then command-line flags, validated as a whole (schema and cross-references).
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigSchema, type Config, type ConfigInput } from './schema.js';
import { defaultConfig } from './defaults.js';

/** A problem with the configuration the user supplied; worth a one-line message, not a stack trace. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ConfigFlags {
  host: string;
  port: number;
  dataDir: string;
  logLevel: string;
  redis: string;
  nodeId: string;
}

export interface LoadConfigOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Partial<ConfigFlags>;
}

export const ENV_VARS: ReadonlyArray<{ name: string; description: string }> = [
  { name: 'WEFT_CONFIG', description: 'JSON config file (when --config is not given)' },
  { name: 'WEFT_HOST', description: 'interface to listen on' },
  { name: 'WEFT_PORT', description: 'port to listen on (0 = any free port)' },
  { name: 'WEFT_DATA_DIR', description: 'directory of the LevelDB database' },
  { name: 'WEFT_MAX_MESSAGE_BYTES', description: 'largest message accepted; larger ones get an error reply' },
  { name: 'WEFT_INACTIVITY_RESET_SECONDS', description: 'reload projects from their seeds after this much silence (0 = never)' },
  { name: 'WEFT_AUTOSAVE_INTERVAL_MINS', description: "clients' autosave interval in minutes" },
  { name: 'WEFT_GENERATION', description: 'protocol generation: auto, classic or revisions' },
  { name: 'WEFT_SYNC', description: 'fsync every commit: true/false/1/0' },
  { name: 'WEFT_LOG_LEVEL', description: 'log lines at this level and above: debug, info, warn, error or silent' },
  { name: 'WEFT_TOKEN_SECRET', description: 'HS256 secret of app-issued login tokens (at least 32 characters)' },
  { name: 'WEFT_REDIS_URL', description: 'Redis shared by several nodes (cluster mode): redis://host:port' },
  { name: 'WEFT_NODE_ID', description: "this node's id in a cluster (default: host name and process id)" },
];

/** Keys whose value in a config file replaces the default instead of merging into it. */
const REPLACED_KEYS = new Set(['projects', 'users', 'groups']);

type Json = Record<string, unknown>;

export async function loadConfig(options: LoadConfigOptions = {}): Promise<Config> {
  const env = options.env ?? process.env;
  let input: Json = defaultConfig() as Json;

  const file = options.file ?? nonEmpty(env.WEFT_CONFIG);
  if (file !== undefined) input = mergeConfig(input, await readConfigFile(resolve(file)));

  input = mergeConfig(input, envOverrides(env));
  input = mergeConfig(input, flagOverrides(options.flags ?? {}));
  return parseConfig(input);
}

/** A configuration from its JSON form (defaults already merged in), checked as a config file is. */
export async function parseConfig(input: Json): Promise<Config> {
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('\n')}`);
  }
  const config = parsed.data;
  const problems = [...crossReferenceProblems(config), ...(await seedProblems(config))];
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('\n')}`);
  return config;
}

async function readConfigFile(path: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path}: invalid JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(data)) throw new ConfigError(`config file ${path}: expected a JSON object`);
  return resolveFilePaths(data, dirname(path));
}

/** Paths inside a config file mean the same wherever the server is started from. */
function resolveFilePaths(data: Json, dir: string): Json {
  const out: Json = { ...data };
  if (typeof out.dataDir === 'string' && out.dataDir !== '') out.dataDir = resolve(dir, out.dataDir);
  if (Array.isArray(out.projects)) {
    out.projects = out.projects.map((project: unknown) =>
      isPlainObject(project) && typeof project.seed === 'string' && project.seed !== ''
        ? { ...project, seed: resolve(dir, project.seed) }
        : project,
    );
  }
  return out;
}

function envOverrides(env: NodeJS.ProcessEnv): Json {
  const out: Json = {};
  const host = nonEmpty(env.WEFT_HOST);
  if (host !== undefined) out.host = host;
  const port = envNumber(env, 'WEFT_PORT', true);
  if (port !== undefined) out.port = port;
  const dataDir = nonEmpty(env.WEFT_DATA_DIR);
  if (dataDir !== undefined) out.dataDir = resolve(dataDir);
  const maxMessageBytes = envNumber(env, 'WEFT_MAX_MESSAGE_BYTES', true);
  if (maxMessageBytes !== undefined) out.limits = { maxMessageBytes };
  const inactivity = envNumber(env, 'WEFT_INACTIVITY_RESET_SECONDS', false);
  if (inactivity !== undefined) out.inactivityResetSeconds = inactivity;
  const autoSave = envNumber(env, 'WEFT_AUTOSAVE_INTERVAL_MINS', false);
  if (autoSave !== undefined) out.autoSaveIntervalMins = autoSave;
  const generation = nonEmpty(env.WEFT_GENERATION);
  if (generation !== undefined) {
    if (!['auto', 'classic', 'revisions'].includes(generation)) {
      throw new ConfigError(`WEFT_GENERATION: expected auto, classic or revisions, got "${generation}"`);
    }
    out.generation = generation;
  }
  const sync = nonEmpty(env.WEFT_SYNC);
  if (sync !== undefined) out.storage = { sync: parseBoolean('WEFT_SYNC', sync) };
  const logLevel = nonEmpty(env.WEFT_LOG_LEVEL);
  if (logLevel !== undefined) out.logLevel = logLevel;
  const secret = nonEmpty(env.WEFT_TOKEN_SECRET);
  if (secret !== undefined) out.tokens = { secret };
  const cluster = clusterOverrides(nonEmpty(env.WEFT_REDIS_URL), nonEmpty(env.WEFT_NODE_ID));
  if (cluster) out.cluster = cluster;
  return out;
}

function clusterOverrides(redis: string | undefined, nodeId: string | undefined): Json | undefined {
  if (redis === undefined && nodeId === undefined) return undefined;
  return { ...(redis !== undefined ? { redis } : {}), ...(nodeId !== undefined ? { nodeId } : {}) };
}

function flagOverrides(flags: Partial<ConfigFlags>): Json {
  const out: Json = {};
  if (flags.host !== undefined) out.host = flags.host;
  if (flags.port !== undefined) out.port = flags.port;
  if (flags.dataDir !== undefined) out.dataDir = resolve(flags.dataDir);
  if (flags.logLevel !== undefined) out.logLevel = flags.logLevel;
  const cluster = clusterOverrides(flags.redis, flags.nodeId);
  if (cluster) out.cluster = cluster;
  return out;
}

function envNumber(env: NodeJS.ProcessEnv, name: string, integer: boolean): number | undefined {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return undefined;
  const value = Number(raw.trim());
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new ConfigError(`${name}: expected ${integer ? 'an integer' : 'a number'}, got "${raw}"`);
  }
  return value;
}

function parseBoolean(name: string, raw: string): boolean {
  const value = raw.trim().toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(`${name}: expected true, false, 1 or 0, got "${raw}"`);
}

/** Plain objects merge key by key; everything else (arrays included) and the REPLACED_KEYS replace. */
export function mergeConfig(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] = !REPLACED_KEYS.has(key) && isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function crossReferenceProblems(config: Config): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  config.projects.forEach((project, i) => {
    const key = idKey(project.id);
    if (ids.has(key)) problems.push(`projects[${i}].id: duplicate project id ${JSON.stringify(project.id)}`);
    ids.add(key);
  });
  // "*" stands for every project, those made at runtime too.
  const unknownIds = (list: ReadonlyArray<string | number>) => list.filter((id) => id !== '*' && !ids.has(idKey(id)));
  for (const [name, projects] of Object.entries(config.groups)) {
    const missing = unknownIds(projects);
    if (missing.length > 0) problems.push(`${formatPath(['groups', name])}: unknown project ${missing.map((id) => JSON.stringify(id)).join(', ')}`);
  }
  const missingAnonymous = unknownIds(config.anonymous.projects);
  if (missingAnonymous.length > 0) {
    problems.push(`anonymous.projects: unknown project ${missingAnonymous.map((id) => JSON.stringify(id)).join(', ')}`);
  }
  for (const [name, user] of Object.entries(config.users)) {
    if (!Object.hasOwn(config.groups, user.group)) {
      problems.push(`${formatPath(['users', name, 'group'])}: unknown group "${user.group}"`);
    }
  }
  return problems;
}

async function seedProblems(config: Config): Promise<string[]> {
  const problems: string[] = [];
  for (const [i, project] of config.projects.entries()) {
    if (project.seed === undefined) continue;
    const info = await stat(project.seed).catch(() => undefined);
    if (!info?.isFile()) problems.push(`projects[${i}].seed: seed file not found: ${project.seed}`);
  }
  return problems;
}

/** Numbers and strings are distinct ids (1 is not "1"), as in the protocol. */
function idKey(id: string | number): string {
  return `${typeof id}:${id}`;
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$-]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

function isPlainObject(value: unknown): value is Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
