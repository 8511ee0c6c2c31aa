/**
 * Whether a frame the server sent follows the protocol (PROTOCOL.md §1, §11, §12): one JSON object
 * with a string `command`; an error reply is `{command, error}` (optionally with the project, top
 * level in classic, `data.project` in revisions) or `{command: "error", message}` (optionally with
 * `project`); revisions messages other than errors carry a `data` object. An error saying a
 * handler failed (`<command> failed: ...`) or carrying a stack trace is a server fault, not an answer.
 */
import type { Generation } from './fuzz-messages.js';

const ERROR_KEYS = new Set(['command', 'error', 'project', 'data']);
const ERROR_MESSAGE_KEYS = new Set(['command', 'message', 'project']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const fault = (text: string) => /^\S+ failed: /.test(text) || /\n\s+at /.test(text);

/** Why `text` breaks the protocol, or null when it follows it. */
export function nonConforming(text: string, generation: Generation | 'pre-login'): string | null {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (!isObject(msg)) return 'not a JSON object';
  if (typeof msg.command !== 'string' || msg.command === '') return 'no command';
  if (msg.command === 'error') {
    if (typeof msg.message !== 'string' || msg.message === '') return 'error without a message';
    for (const key of Object.keys(msg)) if (!ERROR_MESSAGE_KEYS.has(key)) return `error with key ${key}`;
    return fault(msg.message) ? `server fault: ${msg.message.slice(0, 200)}` : null;
  }
  if ('error' in msg) {
    if (typeof msg.error !== 'string' || msg.error === '') return 'error that is not a text';
    for (const key of Object.keys(msg)) if (!ERROR_KEYS.has(key)) return `error reply with key ${key}`;
    if ('data' in msg && !(isObject(msg.data) && Object.keys(msg.data).every((k) => k === 'project'))) return 'error reply with data other than { project }';
    return fault(msg.error) ? `server fault: ${msg.error.slice(0, 200)}` : null;
  }
  if (generation === 'revisions' && !isObject(msg.data)) return `revisions message ${msg.command} without data`;
  return null;
}
