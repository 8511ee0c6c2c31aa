/**
 * Requests from one node to another, and their answers, over Redis pub/sub: every node listens on
 * its inbox channel `<prefix>:node:<nodeId>`; a request names the node to answer to.
 *
 * - Calls from one node to another arrive in the order they were made (one publisher connection,
 *   one channel). Handlers run concurrently: the rpc does not serialize them.
 * - PUBLISH says how many listened: none means the node is gone, and the call fails at once.
 * - Anything may publish on a channel: every message is checked, and one that is not a request or
 *   an answer of ours is dropped (reported, a bounded number of times).
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { checkNodeId } from './lease.js';
import { checkPrefix, DEFAULT_PREFIX } from './redis-keys.js';

export type RpcHandler = (payload: unknown, from: string) => Promise<unknown> | unknown;

export type RpcErrorCode = 'timeout' | 'no-handler' | 'remote' | 'closed' | 'no-receiver' | 'too-large';

export class RpcError extends Error {
  constructor(
    readonly code: RpcErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export interface NodeRpcOptions {
  publisher: Redis;
  /** A connection of its own: once subscribed it can send nothing else. */
  subscriber: Redis;
  nodeId: string;
  prefix?: string;
  timeoutMs?: number;
  maxMessageBytes?: number;
  onError?: (error: Error) => void;
}

const MAX_METHOD_LENGTH = 100;
const callId = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const requestSchema = z.strictObject({
  t: z.literal('q'),
  id: callId,
  from: z.string().min(1).max(256),
  method: z.string().min(1).max(MAX_METHOD_LENGTH),
  payload: z.unknown(),
});
const replySchema = z.union([
  z.strictObject({ t: z.literal('r'), id: callId, ok: z.literal(true), value: z.unknown() }),
  // `code` may be left out: a failure without one is the handler's.
  z.strictObject({ t: z.literal('r'), id: callId, ok: z.literal(false), code: z.enum(['no-handler', 'remote']).optional(), error: z.string().max(10_000) }),
]);

/** Longer timers fire at once in Node. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Malformed messages reported at most this many times (then silently dropped). */
const MAX_REPORTS = 100;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class NodeRpc {
  readonly nodeId: string;
  private readonly prefix: string;
  private readonly inbox: string;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private started = false;
  private closed = false;
  private reports = 0;
  private readonly listener = (channel: string, message: string) => this.receive(channel, message);

  constructor(private readonly options: NodeRpcOptions) {
    this.nodeId = checkNodeId(options.nodeId);
    this.prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
    this.inbox = this.channelOf(this.nodeId);
    this.timeoutMs = checkPositive('timeoutMs', options.timeoutMs ?? 10_000, MAX_TIMER_MS);
    this.maxMessageBytes = checkPositive('maxMessageBytes', options.maxMessageBytes ?? 16 * 1024 * 1024);
  }

  private channelOf(nodeId: string): string {
    return `${this.prefix}:node:${nodeId}`;
  }

  /** Subscribes to this node's inbox; resolves once Redis confirmed it. */
  async start(): Promise<void> {
    if (this.closed) throw new RpcError('closed', 'node requests are closed');
    if (this.started) return;
    this.started = true;
    this.options.subscriber.on('message', this.listener);
    await this.options.subscriber.subscribe(this.inbox);
  }

  /** One handler per method. Handlers run concurrently: a request is not held back by one still running. */
  handle(method: string, handler: RpcHandler): void {
    if (typeof method !== 'string' || method.length === 0 || method.length > MAX_METHOD_LENGTH) throw new Error(`a method name has 1 to ${MAX_METHOD_LENGTH} characters`);
    if (this.handlers.has(method)) throw new Error(`a handler for ${method} is set already`);
    this.handlers.set(method, handler);
  }

  /**
   * Asks `nodeId` to run `method`; resolves with the handler's answer (undefined arrives as null).
   * Fails with an RpcError: 'no-receiver' at once when nobody listens on that node's inbox.
   */
  call(nodeId: string, method: string, payload: unknown, timeoutMs = this.timeoutMs): Promise<unknown> {
    if (this.closed) return Promise.reject(new RpcError('closed', 'node requests are closed'));
    let channel: string;
    let text: string;
    const id = ++this.nextId;
    try {
      channel = this.channelOf(checkNodeId(nodeId));
      checkPositive('timeoutMs', timeoutMs, MAX_TIMER_MS);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    try {
      text = JSON.stringify({ t: 'q', id, from: this.nodeId, method, payload });
    } catch (error) {
      return Promise.reject(new RpcError('too-large', `request ${method} cannot be written as JSON: ${(error as Error).message}`));
    }
    if (Buffer.byteLength(text) > this.maxMessageBytes) return Promise.reject(new RpcError('too-large', `request ${method} is larger than ${this.maxMessageBytes} bytes`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError('timeout', `node ${nodeId} did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.options.publisher.publish(channel, text).then(
        (receivers) => receivers === 0 && this.settle(id, new RpcError('no-receiver', `node ${nodeId} is not listening`)),
        (error: Error) => this.settle(id, new RpcError('no-receiver', `cannot reach node ${nodeId}: ${error.message}`)),
      );
    });
  }

  /** Whether a node listens on its inbox now (a node that died has no subscription left). */
  async listening(nodeId: string): Promise<boolean> {
    const reply = (await this.options.publisher.call('PUBSUB', 'NUMSUB', this.channelOf(checkNodeId(nodeId)))) as unknown[];
    return Array.isArray(reply) && Number(reply[1]) > 0;
  }

  /** Unsubscribes; calls still waiting fail with 'closed'. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.pending.keys()]) this.settle(id, new RpcError('closed', 'node requests are closed'));
    this.options.subscriber.off('message', this.listener);
    await this.options.subscriber.unsubscribe(this.inbox).catch(() => undefined);
  }

  private settle(id: number, outcome: Error | { value: unknown }): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (outcome instanceof Error) call.reject(outcome);
    else call.resolve(outcome.value);
  }

  private report(message: string): void {
    if (this.reports++ < MAX_REPORTS) this.options.onError?.(new Error(message));
  }

  /** The subscriber's listener: never throws, whatever arrives. */
  private receive(channel: string, message: string): void {
    if (channel !== this.inbox || this.closed) return;
    // Characters never outnumber bytes: longer than the limit is too large without counting bytes.
    if (typeof message !== 'string' || message.length > this.maxMessageBytes) return this.report(`dropped a message on ${channel} larger than ${this.maxMessageBytes} bytes`);
    let value: unknown;
    try {
      value = JSON.parse(message);
    } catch {
      return this.report(`dropped a message on ${channel} that is not JSON`);
    }
    const kind = (value as { t?: unknown } | null)?.t;
    if (kind === 'r') {
      const reply = replySchema.safeParse(value);
      if (!reply.success) return this.report(`dropped a malformed answer on ${channel}`);
      const r = reply.data;
      // An answer to no pending call (one that timed out, or another node's) is dropped silently.
      return this.settle(r.id, r.ok ? { value: r.value } : new RpcError(r.code ?? 'remote', r.error));
    }
    const request = requestSchema.safeParse(value);
    if (!request.success) return this.report(`dropped a malformed message on ${channel}`);
    this.answer(request.data).catch((error: unknown) => this.report(`cannot answer ${request.data.method}: ${describe(error)}`));
  }

  private async answer(request: z.infer<typeof requestSchema>): Promise<void> {
    const handler = this.handlers.get(request.method);
    const failure = (code: 'no-handler' | 'remote', error: string) => JSON.stringify({ t: 'r', id: request.id, ok: false, code, error: error.slice(0, 10_000) });
    let text: string;
    if (!handler) text = failure('no-handler', `node ${this.nodeId} has no handler for ${request.method}`);
    else {
      try {
        text = JSON.stringify({ t: 'r', id: request.id, ok: true, value: (await handler(request.payload, request.from)) ?? null });
        if (Buffer.byteLength(text) > this.maxMessageBytes) text = failure('remote', `the answer to ${request.method} is larger than ${this.maxMessageBytes} bytes`);
      } catch (error) {
        // A throwing handler, or an answer JSON cannot carry (a BigInt, a cycle).
        text = failure('remote', describe(error));
      }
    }
    if (this.closed) return;
    let target: string;
    try {
      target = this.channelOf(checkNodeId(request.from));
    } catch {
      return this.report('dropped a request naming no node to answer to');
    }
    await this.options.publisher.publish(target, text).catch((error: Error) => this.report(`cannot answer node ${request.from}: ${error.message}`));
  }
}

function checkPositive(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new Error(`${name} must be an integer from 1 to ${max}: ${value}`);
  return value;
}

function describe(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'an error that cannot be described';
  }
}
