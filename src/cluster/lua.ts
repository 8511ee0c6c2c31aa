/**
 * A Lua script run with EVALSHA (one short command per call) and sent whole with EVAL only when
 * the server does not know it yet (first use, after a restart or SCRIPT FLUSH).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export type RedisArg = string | Buffer | number;

/** Bytes as a Redis argument, without copying. */
export const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

export class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Replies as strings (bulk strings decoded as UTF-8). */
  run(redis: Redis, keys: string[], args: RedisArg[]): Promise<unknown> {
    return this.exec(redis, keys, args, false);
  }

  /** Replies with bulk strings as Buffers, for binary values. */
  runBuffer(redis: Redis, keys: string[], args: RedisArg[]): Promise<unknown> {
    return this.exec(redis, keys, args, true);
  }

  private async exec(redis: Redis, keys: string[], args: RedisArg[], binary: boolean): Promise<unknown> {
    const send = (command: string, head: RedisArg) => {
      const all: RedisArg[] = [head, keys.length, ...keys, ...args];
      return binary ? redis.callBuffer(command, ...all) : redis.call(command, ...all);
    };
    try {
      return await send('EVALSHA', this.sha);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return send('EVAL', this.source);
    }
  }
}

/** A reply that must be a string (or Buffer) from a script: anything else is an error of ours. */
export function replyText(value: unknown, what: string): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  throw new Error(`unexpected reply for ${what}: ${typeof value}`);
}

/** A non-negative safe integer from a reply (number, or decimal digits as text). */
export function replyInteger(value: unknown, what: string): number {
  const n = typeof value === 'number' ? value : /^\d{1,16}$/.test(replyTextOrEmpty(value)) ? Number(replyTextOrEmpty(value)) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`unexpected integer for ${what}: ${String(value)}`);
  return n;
}

function replyTextOrEmpty(value: unknown): string {
  return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : '';
}
