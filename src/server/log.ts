/**
 * What the server tells its operator. Every line may name the project, the connection and the
 * user it is about; never a message body or a password. `weft serve` writes JSON lines with pino
 * (readable ones with pino-pretty when stderr is a terminal); an embedding application passes its
 * own function.
 */
import { pino } from 'pino';
import type { ProjectId } from '../protocol/schemas.js';
import type { LOG_LEVELS } from '../config/schema.js';

export type LogLevel = Exclude<(typeof LOG_LEVELS)[number], 'silent'>;

export interface LogFields {
  level?: LogLevel;
  project?: ProjectId;
  connection?: string;
  user?: string;
  /** Several nodes: the node that writes the line. */
  node?: string;
}

export type Log = (message: string, fields?: LogFields) => void;

/** Every line of `log` names this node (several nodes write to one log store). */
export function withNode(log: Log, node: string): Log {
  return (message, fields = {}) => log(message, { ...fields, node });
}

/** Plain lines on stderr: the default of a server started without a log function. */
export const stderrLog: Log = (message) => void process.stderr.write(`${message}\n`);

/** JSON lines on stderr at `level` and above (readable lines on a terminal). */
export function pinoLog(level: (typeof LOG_LEVELS)[number], pretty = process.stderr.isTTY === true): { log: Log; flush: () => void } {
  // Buffered, written asynchronously: a synchronous write to a full stderr pipe would stop the
  // event loop (pino's sync mode sleeps until the reader catches up; seen in a join storm). What
  // is buffered is written out at exit.
  const destination = pretty ? null : pino.destination({ dest: 2, sync: false });
  const logger = destination
    ? pino({ level, base: { pid: process.pid } }, destination)
    : pino({ level, transport: { target: 'pino-pretty', options: { destination: 2, ignore: 'pid,hostname' } } });
  const flush = () => {
    try {
      if (destination) destination.flushSync();
      else logger.flush();
    } catch {
      // Nothing buffered yet, or stderr is gone: nothing to write to.
    }
  };
  process.once('exit', flush);
  const log: Log = (message, fields = {}) => {
    const { level: at = 'info', ...context } = fields;
    logger[at](context, message);
  };
  return { log, flush };
}
