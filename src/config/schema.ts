/**
 * Server configuration: defaults (the demo setup of PROTOCOL.md §2.5 and §13), a JSON config
 * file over them, environment variables over that, and command-line flags over everything.
 */
import { z } from 'zod';
import { ProjectIdSchema } from '../protocol/schemas.js';

export const ProjectConfigSchema = z.strictObject({
  id: ProjectIdSchema,
  name: z.string().min(1),
  /** JSON file in the demo server's layout; relative paths are resolved from the config file. */
  seed: z.string().min(1).optional(),
  /** Type of ids the server gives new records: numbers above every id the project held, or `<store>-<n>` strings. */
  ids: z.enum(['number', 'prefixed']).default('number'),
});

export const UserSchema = z.strictObject({ password: z.string(), group: z.string().min(1) });

const HISTORY_DEFAULTS = { autoEveryChanges: 500, autoEveryMinutes: 10, keepLast: 50, keepDaily: 30 };

/** Server-side versions of each project (src/history). */
export const HistoryConfigSchema = z.strictObject({
  /**
   * Take a version after this many changes since the previous one; 0 = never on count. A backstop
   * for bursts (imports, scripts): ordinary editing is covered by `autoEveryMinutes`.
   */
  autoEveryChanges: z.number().int().min(0).default(HISTORY_DEFAULTS.autoEveryChanges),
  /** Take a version this many minutes after the first change not in a version yet; 0 = never on time. */
  autoEveryMinutes: z.number().min(0).default(HISTORY_DEFAULTS.autoEveryMinutes),
  /** Versions always kept, newest first. */
  keepLast: z.number().int().min(1).default(HISTORY_DEFAULTS.keepLast),
  /** Beyond those, one version per day is kept for this many days; older ones are deleted. */
  keepDaily: z.number().int().min(0).default(HISTORY_DEFAULTS.keepDaily),
});

/** App-issued tokens (src/server/tokens.ts). */
export const TokensConfigSchema = z.strictObject({
  /** HS256 shared secret (at least 32 characters); WEFT_TOKEN_SECRET sets it too. */
  secret: z.string().min(32, 'a token secret needs at least 32 characters').optional(),
  /** RS256 / ES256 public key, a PEM file (SPKI). */
  publicKeyFile: z.string().min(1).optional(),
  /** RS256 / ES256 keys, a JWKS file. */
  jwksFile: z.string().min(1).optional(),
  issuer: z.string().min(1).optional(),
  audience: z.string().min(1).optional(),
  requireExpiry: z.boolean().default(true),
});
export type TokensConfig = z.infer<typeof TokensConfigSchema>;

/** Levels of `weft serve`'s log lines, lowest first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

export const ConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  dataDir: z.string().min(1),
  /** Projects a fresh data directory starts with (after that, the list is in the data directory: `weft projects`). */
  projects: z.array(ProjectConfigSchema),
  users: z.record(z.string().min(1), UserSchema),
  groups: z.record(z.string().min(1), z.array(ProjectIdSchema)),
  anonymous: z.strictObject({
    enabled: z.boolean().default(true),
    projects: z.array(ProjectIdSchema).default([]),
    /** Anonymous users may look but not change anything. */
    readOnly: z.boolean().default(false),
  }),
  /**
   * A project a token names (in its `projects` claim) that does not exist is created empty when
   * the token's user first opens it.
   */
  onDemandProjects: z.boolean().default(false),
  /** Tokens the host application signs (JWT): logins with one get what its claims grant. */
  tokens: TokensConfigSchema.optional(),
  /** Groups whose users may look at their projects but not change them. */
  readOnlyGroups: z.array(z.string().min(1)).default([]),
  /** Groups whose users may read every project's history over HTTP (Basic auth). */
  adminGroups: z.array(z.string().min(1)).default(['admin']),
  /** Clients' autosave interval; a grant is repeated after max(1, this - 1) minutes (PROTOCOL.md §9.1). */
  autoSaveIntervalMins: z.number().positive().default(60),
  /** When set, GET /metrics needs `Authorization: Bearer <metricsToken>`. */
  metricsToken: z.string().min(16, 'metricsToken needs at least 16 characters').optional(),
  /** `weft serve` logs lines at this level and above (JSON lines on stderr; readable on a terminal). */
  logLevel: z.enum(LOG_LEVELS).default('info'),
  /** On SIGTERM / SIGINT, exit with an error if closing connections and flushing projects takes longer. */
  shutdownTimeoutSeconds: z.number().positive().default(10),
  /** Reload every project from its seed after this long without any incoming frame; 0 = never. */
  inactivityResetSeconds: z.number().min(0).default(0),
  limits: z
    .strictObject({
      /** Larger messages are answered with an error; the connection stays open. */
      maxMessageBytes: z.number().int().positive().default(16 * 1024 * 1024),
      /** Frames above this close the connection (1009), as no server can read them first. */
      maxFrameBytes: z.number().int().positive().default(64 * 1024 * 1024),
      /** Outgoing bytes a slow client may have queued before it is disconnected to resync. */
      maxBufferedBytes: z.number().int().positive().default(64 * 1024 * 1024),
      /** Incoming bytes of one connection waiting to be handled before its socket is no longer read (until half have been). */
      maxQueuedBytes: z.number().int().positive().default(32 * 1024 * 1024),
      /** Output all connections together may hold for clients that do not read it; then the slowest are disconnected (1013). */
      maxBufferedBytesTotal: z.number().int().positive().default(512 * 1024 * 1024),
      /** Records (added, updated, removed) one change may hold; a larger change is refused with an error. */
      maxRecordsPerChange: z.number().int().positive().default(20_000),
      /** Records (in all stores) a project may hold; a change that would add more is refused. */
      maxRecordsPerProject: z.number().int().positive().default(1_000_000),
      /** Deepest nesting of objects and arrays a change or a peer's record may hold; deeper ones are refused. */
      maxValueDepth: z.number().int().positive().default(64),
      /** Messages one connection may send per second on average; beyond, they are dropped with an error. */
      maxMessagesPerSecond: z.number().positive().default(500),
      /** Messages one connection may send at once, above the average. */
      messageBurst: z.number().int().positive().default(1000),
      /** Changes of one connection refused (or messages dropped for its rate) within a minute before it is closed (1008). */
      maxRefusalsPerMinute: z.number().int().positive().default(60),
      /** Records (added, updated, removed) one connection may send per second; more wait. */
      maxRecordsPerSecond: z.number().int().positive().default(20_000),
      /** Longest login name accepted, in characters. */
      maxLoginChars: z.number().int().positive().default(128),
      /** Logins one connection may send (re-logins included); more close it (1008). */
      maxLoginsPerConnection: z.number().int().positive().default(20),
      /** Failed logins one connection may send before it is closed (1008). */
      maxFailedLoginsPerConnection: z.number().int().positive().default(5),
      /** Failed logins (WebSocket and admin API) from one address within `failedLoginWindowSeconds` before it must wait. */
      maxFailedLoginsPerAddress: z.number().int().positive().default(30),
      /** The window over which failed logins of one address are counted. */
      failedLoginWindowSeconds: z.number().positive().default(60),
      /** After a burst of 8, a connection gets the users list at most once per this many milliseconds. */
      usersBroadcastMs: z.number().int().min(0).default(250),
      /** Bytes a connection may send before it has logged in; more close it (1009). */
      preLoginBytes: z.number().int().positive().default(64 * 1024),
      /** A connection not logged in after this many seconds is closed (1008). */
      loginTimeoutSeconds: z.number().positive().default(30),
      /** WebSocket connections not logged in yet, at most; more are refused (HTTP 503). */
      maxPendingSockets: z.number().int().positive().default(4096),
      /** WebSocket connections not logged in yet from one address, at most; more are refused (HTTP 503). */
      maxPendingSocketsPerAddress: z.number().int().positive().default(2048),
      /** A catch-up reply above this many characters of revisions is answered with `reload: true` instead. */
      maxCatchUpChars: z.number().int().positive().default(16 * 1024 * 1024),
      /** Awareness client states one Yjs peer may announce (a provider announces one); frames adding more are dropped. */
      maxAwarenessStatesPerPeer: z.number().int().positive().default(8),
      /** Awareness frames from a Yjs peer larger than this are dropped unrelayed. */
      maxAwarenessFrameBytes: z.number().int().positive().default(64 * 1024),
    })
    // prefault: an absent `limits` is parsed as {}, so every field takes its own default.
    .prefault({}),
  storage: z
    .strictObject({
      /** Fold the update log into a snapshot after this many updates. */
      compactAfterUpdates: z.number().int().positive().default(500),
      /** Unload a project nobody is subscribed to after this many seconds. */
      unloadAfterSeconds: z.number().min(0).default(60),
      /** fsync each commit. */
      sync: z.boolean().default(false),
      /** Folding the log and automatic versions wait until a project had no change for this long... */
      quietMs: z.number().int().min(0).default(1000),
      /** ...but no longer than this after they were due. */
      quietMaxMs: z.number().int().min(0).default(30_000),
      /** A phantom id a client named a new record by is remembered this many days (src/document/phantoms.ts). */
      phantomDays: z.number().positive().default(7),
    })
    .default({ compactAfterUpdates: 500, unloadAfterSeconds: 60, sync: false, quietMs: 1000, quietMaxMs: 30_000, phantomDays: 7 }),
  revisionLog: z
    .strictObject({
      /** Revisions kept per project for catch-up; older ones are pruned (clients behind them reload). */
      keep: z.number().int().min(0).default(10000),
    })
    .default({ keep: 10000 }),
  history: HistoryConfigSchema.default(HISTORY_DEFAULTS),
  /** Ping every socket this often; one that has not answered the previous ping is dropped. 0 = off. */
  heartbeatSeconds: z.number().min(0).default(30),
  /** Same-field edits by different clients within this window count as concurrent (classic senders get the final value). */
  concurrencyWindowMs: z.number().int().min(0).default(5000),
  /** Force one protocol generation for every connection, or pick per connection from its login. */
  generation: z.enum(['auto', 'classic', 'revisions']).default('auto'),
  /**
   * Names of the store arrays in datasets: `legacy` (tasksData, resourcesData, ...) as every
   * client reads them, or `plain` (tasks, resources, dependencies, assignments, calendars), which
   * Bryntum 7.x reads without a deprecation warning. Versions and change logs keep their names.
   */
  datasetKeys: z.enum(['legacy', 'plain']).default('legacy'),
  /**
   * Several nodes serving the same projects through one Redis (README "Several nodes"). Absent:
   * one node, nothing but its LevelDB.
   */
  cluster: z
    .strictObject({
      /** redis://[user:password@]host:port[/db] */
      redis: z.string({ error: 'required with any cluster setting: the Redis URL (--redis, WEFT_REDIS_URL)' }).regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL'),
      /** This node's id, unique among the nodes (default: host name and process id). */
      nodeId: z.string().min(1).max(256).optional(),
      /** Time to live of a project's lease; its owner renews it every third of that. */
      leaseMs: z.number().int().min(300).max(600_000).default(10_000),
      /** How long a node waits for the owner to answer a forwarded change before sending its clients away. */
      requestTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
      /** Prefix of every Redis key Weft writes. */
      prefix: z.string().regex(/^[^{}]+$/, 'non-empty, without braces').default('weft'),
    })
    .optional(),
});

export type Config = z.infer<typeof ConfigSchema>;
export type ProjectConfig = z.infer<typeof ProjectConfigSchema>;
export type HistoryConfig = z.infer<typeof HistoryConfigSchema>;
/** What a config file may contain: any part of the configuration. */
export type ConfigInput = z.input<typeof ConfigSchema>;
