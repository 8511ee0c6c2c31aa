/**
 * This node's part in a cluster: its connections to Redis, its id, and the pieces every project
 * uses (lease, stream, the one stream reader, requests to other nodes).
 */
import { Redis } from 'ioredis';
import type { Log } from '../server/log.js';
import { checkNodeId, ProjectLease } from './lease.js';
import { NodeRpc } from './node-rpc.js';
import { ProjectStream } from './project-stream.js';
import { checkPrefix } from './redis-keys.js';
import { SharedCatalog } from './shared-catalog.js';
import { SharedVersions } from './shared-versions.js';
import { ClusterPresence } from './cluster-presence.js';
import { StreamReader } from './stream-reader.js';

export interface ClusterNodeOptions {
  redisUrl: string;
  nodeId: string;
  leaseMs: number;
  prefix: string;
  /** How long a request to another node may take (NodeRpc). */
  requestTimeoutMs?: number;
  log: Log;
  /** How long to wait for Redis at start. */
  connectTimeoutMs?: number;
  /** How often a node repeats its presence (a node silent for three of these is gone). */
  presenceHeartbeatMs?: number;
}

export class ClusterNode {
  readonly nodeId: string;
  readonly lease: ProjectLease;
  readonly stream: ProjectStream;
  readonly reader: StreamReader;
  readonly rpc: NodeRpc;
  /** The project list the nodes share. */
  readonly catalog: SharedCatalog;
  /** Every project's server-side versions. */
  readonly versions: SharedVersions;
  /** Who is where, across the nodes. */
  readonly presence: ClusterPresence;

  private constructor(
    private readonly redis: Redis,
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    options: ClusterNodeOptions,
  ) {
    this.nodeId = options.nodeId;
    this.lease = new ProjectLease(redis, { nodeId: options.nodeId, leaseMs: options.leaseMs, prefix: options.prefix });
    this.stream = new ProjectStream(redis, { nodeId: options.nodeId, prefix: options.prefix });
    this.catalog = new SharedCatalog(redis, options.prefix);
    this.versions = new SharedVersions(redis, { nodeId: options.nodeId, prefix: options.prefix });
    this.presence = new ClusterPresence({ publisher, subscriber, nodeId: options.nodeId, prefix: options.prefix, heartbeatMs: options.presenceHeartbeatMs, onError: (error) => options.log(error.message, { level: 'warn' }) });
    this.reader = new StreamReader(redis, { prefix: options.prefix, onError: (error, project) => options.log(`stream reader${project === undefined ? '' : ` (project ${JSON.stringify(project)})`}: ${error.message}`, { level: 'warn' }) });
    // Large enough for the largest change a client may send (limits.maxMessageBytes), forwarded.
    this.rpc = new NodeRpc({ publisher, subscriber, nodeId: options.nodeId, prefix: options.prefix, maxMessageBytes: 256 * 1024 * 1024, timeoutMs: options.requestTimeoutMs, onError: (error) => options.log(`node requests: ${error.message}`, { level: 'warn' }) });
  }

  /** Connects to Redis (bounded wait) and starts listening for other nodes' requests. */
  static async start(options: ClusterNodeOptions): Promise<ClusterNode> {
    checkNodeId(options.nodeId);
    checkPrefix(options.prefix);
    const redis = new Redis(options.redisUrl, { lazyConnect: true, connectTimeout: options.connectTimeoutMs ?? 10_000 });
    // Errors surface on the commands that meet them; reconnecting is ioredis's.
    let lastError = '';
    redis.on('error', (e: Error) => {
      if (e.message !== lastError) options.log(`redis: ${e.message}`, { level: 'warn' });
      lastError = e.message;
    });
    try {
      await redis.connect();
      await redis.ping();
    } catch (error) {
      redis.disconnect();
      throw new Error(`cannot reach Redis at ${safeUrl(options.redisUrl)}: ${(error as Error).message}`, { cause: error });
    }
    const publisher = redis.duplicate();
    const subscriber = redis.duplicate();
    publisher.on('error', () => {});
    subscriber.on('error', () => {});
    const node = new ClusterNode(redis, publisher, subscriber, options);
    await node.rpc.start();
    await node.presence.start();
    options.log(`cluster node ${JSON.stringify(options.nodeId)} joined through Redis at ${safeUrl(options.redisUrl)}`, {});
    return node;
  }

  async close(): Promise<void> {
    await this.presence.close().catch(() => undefined);
    await this.rpc.close().catch(() => undefined);
    await this.reader.close().catch(() => undefined);
    for (const client of [this.subscriber, this.publisher, this.redis]) await client.quit().catch(() => client.disconnect());
  }
}

/** A Redis URL without its password, for logs. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(not a URL)';
  }
}
