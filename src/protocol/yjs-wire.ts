/**
 * The y-websocket wire format (binary frames): a message type, then a y-protocols sync or
 * awareness message. Decoding here only splits frames; applying them is the room's job.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';

export const MESSAGE_SYNC = 0;
export const MESSAGE_AWARENESS = 1;
export const MESSAGE_QUERY_AWARENESS = 3;

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
      if (syncType === syncProtocol.messageYjsSyncStep1) return { type: 'sync-step-1', stateVector: decoding.readVarUint8Array(decoder) };
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

/** The client ids an awareness update announces (each entry: client id, clock, state as JSON). */
export function awarenessClientIds(update: Uint8Array): number[] {
  const decoder = decoding.createDecoder(update);
  const count = decoding.readVarUint(decoder);
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    if (!decoding.hasContent(decoder)) throw new Error('awareness update ends early');
    ids.push(decoding.readVarUint(decoder));
    decoding.readVarUint(decoder);
    decoding.readVarString(decoder);
  }
  return ids;
}
