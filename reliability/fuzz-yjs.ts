/**
 * Frames for the Yjs endpoint (/yjs/<project>): y-protocols sync and awareness messages with bad
 * varint lengths, truncated and random updates, and well-formed updates that write junk into the
 * document's maps (records that are not maps, `$base` that is not JSON, parents that loop,
 * unknown top-level maps, prototype keys).
 */
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import { Random } from '../src/simulate/random.js';
import { PROTO_KEYS, wild, type Pools } from './fuzz-values.js';
import type { Outgoing } from './fuzz-messages.js';

const STORES = ['tasks', 'resources', 'dependencies', 'assignments', 'calendars', 'versions', 'changelogs', 'project', '$stores', 'junk', '__proto__'];

function frame(write: (e: encoding.Encoder) => void): Buffer {
  const e = encoding.createEncoder();
  write(e);
  return Buffer.from(encoding.toUint8Array(e));
}

/** Sync step 1 with an empty state vector: the server answers with step 2 (used as a probe). */
export const SYNC_PROBE = frame((e) => {
  encoding.writeVarUint(e, 0);
  encoding.writeVarUint(e, 0);
  encoding.writeVarUint8Array(e, Y.encodeStateVector(new Y.Doc()));
});

/** True for a server frame answering SYNC_PROBE (sync step 2). */
export const isProbeAnswer = (data: Buffer): boolean => data.length >= 2 && data[0] === 0 && data[1] === 1;

export class YjsMaker {
  constructor(
    private readonly r: Random,
    private readonly pools: Pools,
  ) {}

  next(taskIds: (number | string)[]): Outgoing {
    const r = this.r;
    switch (r.int(0, 7)) {
      case 0:
      case 1:
      case 2:
        return { kind: 'yjs-junk-update', data: this.sync(2, this.junkUpdate(taskIds)), binary: true };
      case 3:
        return { kind: 'yjs-truncated-update', data: this.sync(r.pick([1, 2]), this.junkUpdate(taskIds).subarray(0, r.int(0, 12))), binary: true };
      case 4:
        return { kind: 'yjs-random-update', data: this.sync(r.pick([0, 1, 2]), this.bytes(r.int(0, 80))), binary: true };
      case 5:
        return { kind: 'yjs-bad-length', data: this.badLength(), binary: true };
      case 6:
        return { kind: 'yjs-awareness', data: this.awareness(), binary: true };
      default:
        return { kind: 'yjs-random-frame', data: this.bytes(r.int(0, 40)), binary: r.chance(0.95) };
    }
  }

  private sync(type: number, payload: Uint8Array): Buffer {
    return frame((e) => {
      encoding.writeVarUint(e, 0);
      encoding.writeVarUint(e, type);
      encoding.writeVarUint8Array(e, payload);
    });
  }

  /** A valid update from a fresh document that writes wrong things into the project's maps. */
  private junkUpdate(taskIds: (number | string)[]): Uint8Array {
    const r = this.r;
    const doc = new Y.Doc();
    doc.clientID = r.int(1, 2 ** 31);
    doc.transact(() => {
      for (let n = r.int(1, 3); n > 0; n--) {
        // A name this document already gave another type throws here (not on the server): skip it.
        try {
          this.junkWrite(doc, taskIds);
        } catch {
          /* next one */
        }
      }
    });
    return Y.encodeStateAsUpdate(doc);
  }

  /** One wrong thing in a store map: a record that is not a map, or a map with a bad `$base` or fields. */
  private junkWrite(doc: Y.Doc, taskIds: (number | string)[]): void {
    const r = this.r;
    const map = doc.getMap(r.pick(STORES));
    const key = r.chance(0.6) && taskIds.length ? String(r.pick(taskIds)) : r.chance(0.5) ? r.pick(PROTO_KEYS) : String(r.int(1, 1e6));
    switch (r.int(0, 4)) {
      case 0:
        map.set(key, this.plain());
        return;
      case 1: {
        const record = new Y.Map<unknown>();
        map.set(key, record);
        const base = { id: r.chance(0.5) ? key : this.plain(), parentId: r.chance(0.5) ? key : (r.pick(taskIds) ?? null), $order: this.plain() };
        record.set('$base', r.chance(0.3) ? '{not an object' : base);
        if (r.chance(0.5)) record.set(r.pick(['parentId', 'fromTask', 'toTask', 'event', 'resource', '$order', 'id', ...PROTO_KEYS]), this.plain());
        return;
      }
      case 2: {
        const text = new Y.Text();
        map.set(key, text);
        text.insert(0, 'junk');
        return;
      }
      case 3: {
        const array = new Y.Array<unknown>();
        map.set(key, array);
        array.push([this.plain(), this.plain()]);
        return;
      }
      default:
        doc.getArray(r.pick(STORES)).push([this.plain()]);
    }
  }

  /** A JSON value Yjs can hold (no undefined, no functions). */
  private plain(): unknown {
    const value = wild(this.r, this.pools);
    try {
      return JSON.parse(JSON.stringify(value) ?? 'null');
    } catch {
      return null;
    }
  }

  /** Varints that claim more bytes than follow, or never end. */
  private badLength(): Buffer {
    const r = this.r;
    const head = [r.pick([0, 1, 2, 3]), r.pick([0, 1, 2])];
    const length = r.pick([[0xff, 0xff, 0xff, 0xff, 0x0f], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], [0x7f], [0x80]]);
    return Buffer.concat([Buffer.from([...head, ...length]), this.bytes(r.int(0, 8))]);
  }

  private awareness(): Buffer {
    const r = this.r;
    return frame((e) => {
      encoding.writeVarUint(e, 1);
      const inner = encoding.createEncoder();
      const count = r.pick([0, 1, 2, 50, 2 ** 31]);
      encoding.writeVarUint(inner, count);
      for (let i = 0; i < Math.min(count, 20); i++) {
        encoding.writeVarUint(inner, r.int(0, 2 ** 31));
        encoding.writeVarUint(inner, r.int(0, 2 ** 20));
        encoding.writeVarString(inner, r.chance(0.7) ? JSON.stringify(this.plain()) : '{broken');
      }
      const body = encoding.toUint8Array(inner);
      encoding.writeVarUint8Array(e, r.chance(0.8) ? body : body.subarray(0, r.int(0, body.length)));
    });
  }

  private bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.r.int(0, 255);
    return out;
  }
}
