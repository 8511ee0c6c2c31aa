/**
 * The y-websocket wire format (binary frames): a message type, then a y-protocols sync or
 * awareness message. Decoding here only splits frames; applying them is the room's job. A peer
 * that puts no credentials in its URL logs in with an auth message first (see decodeAuthToken).
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import * as Y from 'yjs';

export const MESSAGE_SYNC = 0;
export const MESSAGE_AWARENESS = 1;
export const MESSAGE_AUTH = 2;
export const MESSAGE_QUERY_AWARENESS = 3;

/**
 * Sub-types of an auth message, numbered as Hocuspocus numbers them (which also puts the document
 * name before each message): the peer's token, and the server's "authenticated" answer.
 * y-websocket clients read only sub-type 0 from a server (as "permission denied"), so the answer
 * is not 0 and a y-websocket client passes over it.
 */
export const AUTH_TOKEN = 0;
export const AUTH_AUTHENTICATED = 2;

/** What an authenticated peer may do: change the project, or only sync it down. */
export type AuthScope = 'read-write' | 'readonly';

export type YjsFrame =
  | { type: 'sync-step-1'; stateVector: Uint8Array }
  | { type: 'update'; update: Uint8Array }
  | { type: 'awareness'; update: Uint8Array }
  | { type: 'query-awareness' };

export function decodeYjsFrame(data: Uint8Array): YjsFrame {
  const decoder = decoding.createDecoder(data);
  const messageType = decoding.readVarUint(decoder);
  switch (messageType) {
    case MESSAGE_SYNC: {
      const syncType = decoding.readVarUint(decoder);
      if (syncType === syncProtocol.messageYjsSyncStep1) {
        const stateVector = decoding.readVarUint8Array(decoder);
        // Read now, so a state vector that does not decode is the peer's invalid frame, not a failed answer.
        Y.decodeStateVector(stateVector);
        return { type: 'sync-step-1', stateVector };
      }
      if (syncType === syncProtocol.messageYjsSyncStep2 || syncType === syncProtocol.messageYjsUpdate) {
        return { type: 'update', update: decoding.readVarUint8Array(decoder) };
      }
      throw new Error(`unknown sync message type ${syncType}`);
    }
    case MESSAGE_AWARENESS:
      return { type: 'awareness', update: decoding.readVarUint8Array(decoder) };
    case MESSAGE_QUERY_AWARENESS:
      return { type: 'query-awareness' };
    default:
      throw new Error(`unknown message type ${messageType}`);
  }
}

/**
 * The token of an auth frame — varUint MESSAGE_AUTH, varUint AUTH_TOKEN, varString token (lib0) —
 * or null when `data` is anything else (another message, a truncated or longer frame, bad UTF-8).
 */
export function decodeAuthToken(data: Uint8Array): string | null {
  try {
    const decoder = decoding.createDecoder(data);
    if (decoding.readVarUint(decoder) !== MESSAGE_AUTH || decoding.readVarUint(decoder) !== AUTH_TOKEN) return null;
    const token = decoding.readVarString(decoder);
    return decoder.pos === data.byteLength ? token : null;
  } catch {
    return null;
  }
}

function frame(write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder();
  write(encoder);
  return encoding.toUint8Array(encoder);
}

export const syncStep1Frame = (stateVector: Uint8Array) =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_SYNC);
    encoding.writeVarUint(e, syncProtocol.messageYjsSyncStep1);
    encoding.writeVarUint8Array(e, stateVector);
  });

export const syncStep2Frame = (update: Uint8Array) =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_SYNC);
    encoding.writeVarUint(e, syncProtocol.messageYjsSyncStep2);
    encoding.writeVarUint8Array(e, update);
  });

export const updateFrame = (update: Uint8Array) =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_SYNC);
    encoding.writeVarUint(e, syncProtocol.messageYjsUpdate);
    encoding.writeVarUint8Array(e, update);
  });

export const awarenessFrame = (update: Uint8Array) =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_AWARENESS);
    encoding.writeVarUint8Array(e, update);
  });

/** A peer's auth frame carrying its token (what decodeAuthToken reads). */
export const encodeAuthToken = (token: string) =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_AUTH);
    encoding.writeVarUint(e, AUTH_TOKEN);
    encoding.writeVarString(e, token);
  });

/** The server's answer to an accepted token: varUint MESSAGE_AUTH, varUint AUTH_AUTHENTICATED, varString scope. */
export const encodeAuthenticated = (scope: AuthScope) =>
  frame((e) => {
    encoding.writeVarUint(e, MESSAGE_AUTH);
    encoding.writeVarUint(e, AUTH_AUTHENTICATED);
    encoding.writeVarString(e, scope);
  });

/** The client ids an awareness update announces (each entry: client id, clock, state as JSON). */
export function awarenessClientIds(update: Uint8Array): number[] {
  const decoder = decoding.createDecoder(update);
  const count = decoding.readVarUint(decoder);
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    if (!decoding.hasContent(decoder)) throw new Error('awareness update ends early');
    ids.push(decoding.readVarUint(decoder));
    decoding.readVarUint(decoder);
    // y-protocols parses each state when it applies the update, and would throw there, past the peer.
    JSON.parse(decoding.readVarString(decoder));
  }
  return ids;
}
