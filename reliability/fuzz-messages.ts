/**
 * Messages for the Bryntum endpoint, built from the protocol's shapes (src/protocol/schemas.ts,
 * PROTOCOL.md §5-6) and then bent: wrong types and edge values in any field, unknown stores and
 * fields, prototype keys, phantom ids that clash, parent and dependency cycles, ids of other
 * projects, the other generation's framing; plus plain random JSON and frames that are not JSON.
 */
import { Random } from '../src/simulate/random.js';
import { EDGE_NUMBERS, PROTO_KEYS, Raw, deep, encode, wild, type Pools } from './fuzz-values.js';

export type Generation = 'classic' | 'revisions';

/** What one connection knows to aim at: its project's ids and those of the others. */
export interface Target {
  project: number | string;
  generation: Generation;
  /** Ids of this project's records by store (from its dataset). */
  ids: Map<string, (number | string)[]>;
  /** Ids seen in other projects. */
  foreign: (number | string)[];
  /** Project ids that exist, do not exist or are the same id of the other type. */
  projects: unknown[];
}

/** One frame to send: text (possibly not UTF-8) or binary. */
export interface Outgoing {
  kind: string;
  data: string | Buffer;
  binary?: boolean;
  /** The frame may have changed the connection's login or subscription: log in and load again after it. */
  resync?: boolean;
}

const KNOWN = ['tasks', 'resources', 'dependencies', 'assignments', 'calendars', 'versions', 'changelogs'];
const ODD_STORES = ['timeRanges', 'fooStore', '__proto__', 'constructor', 'toString', '', '1abc', 'a'.repeat(70), '$input', 'project ', 'TASKS'];
/** Not `projects`: connections send it as their probe and wait for its answer. */
const OTHER_COMMANDS = ['loadVersionContent', 'load_version_content', 'requestVersionAutoSave', 'request_version_autosave', 'catch_up', 'version', 'users', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'error', 'nope', ''];

/** Fields of records in each store, with plausible values made from what the connection knows. */
const FIELDS: Record<string, string[]> = {
  tasks: ['name', 'startDate', 'endDate', 'duration', 'percentDone', 'parentId', 'parentIndex', 'orderedParentIndex', '$PhantomParentId', 'children', 'expanded', 'effort', 'constraintDate'],
  resources: ['name', 'calendar', 'city'],
  dependencies: ['fromTask', 'toTask', 'from', 'to', 'fromEvent', 'toEvent', 'type', 'lag', 'active'],
  assignments: ['event', 'eventId', 'resource', 'resourceId', 'units'],
  calendars: ['name', 'intervals', 'unspecifiedTimeIsWorking', 'parentId'],
  versions: ['name', 'savedAt', 'isAutosave', 'content'],
  changelogs: ['description', 'occurredAt', 'versionId', 'actions'],
};
const REFS: Record<string, string> = { parentId: 'tasks', fromTask: 'tasks', toTask: 'tasks', from: 'tasks', to: 'tasks', fromEvent: 'tasks', toEvent: 'tasks', event: 'tasks', eventId: 'tasks', resource: 'resources', resourceId: 'resources', versionId: 'versions' };

export class MessageMaker {
  private phantoms: string[] = [];
  private local = 0;

  constructor(
    private readonly r: Random,
    private readonly pools: Pools,
  ) {}

  /** One fuzz frame for a logged-in, subscribed connection. */
  next(t: Target): Outgoing {
    const r = this.r;
    const roll = r.next();
    if (roll < 0.5) return { kind: `${t.generation}-change`, data: encode(this.change(t)) };
    if (roll < 0.58) return { kind: 'cycle-change', data: encode(this.frame(t, this.changeCommand(t), { project: t.project, ...this.changes(t, this.cycle(t)) })) };
    if (roll < 0.7) {
      const command = r.chance(0.06) ? 'dataset' : r.chance(0.03) ? 'login' : r.chance(0.9) ? r.pick(OTHER_COMMANDS) : this.value();
      return { kind: 'other-command', data: encode(this.otherCommand(t, command)), resync: command === 'dataset' || command === 'login' };
    }
    if (roll < 0.78) return { kind: 'wrong-generation', data: encode(this.change({ ...t, generation: t.generation === 'classic' ? 'revisions' : 'classic' })) };
    if (roll < 0.9) return { kind: 'random-json', data: this.randomJson() };
    if (roll < 0.95) return { kind: 'not-json', data: this.notJson() };
    return { kind: 'binary', data: this.bytes(), binary: true };
  }

  /** Frames a connection that has not logged in sends: random JSON, logins gone wrong, bytes. */
  preLogin(): Outgoing {
    const r = this.r;
    const roll = r.next();
    if (roll < 0.01) return this.brokenUtf8();
    if (roll < 0.35) return { kind: 'pre-login-json', data: this.randomJson() };
    if (roll < 0.6) return { kind: 'pre-login-login', data: encode(r.chance(0.5) ? { command: 'login', login: this.value(), password: this.value() } : { command: 'login', data: r.chance(0.8) ? { login: this.value(), password: this.value(), token: this.value() } : this.value() }) };
    if (roll < 0.8) return { kind: 'pre-login-command', data: encode({ command: r.pick(['projectChange', 'project_change', 'dataset', 'reset', 'logout', 'catch_up', 'version', ...OTHER_COMMANDS]), project: this.value(), data: r.chance(0.5) ? { project: 1 } : this.value() }) };
    if (roll < 0.93) return { kind: 'not-json', data: this.notJson() };
    return { kind: 'binary', data: this.bytes(), binary: true };
  }

  /** Text frames whose bytes are not UTF-8 (the socket is closed with 1007 for them). */
  brokenUtf8(): Outgoing {
    const r = this.r;
    const bad = [Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]), Buffer.from([0xc0, 0xaf])];
    return { kind: 'broken-utf8', data: Buffer.concat([Buffer.from('{"command":"login","login":"'), r.pick(bad), Buffer.from('"}')]) };
  }

  private changeCommand(t: Target): string {
    return t.generation === 'classic' ? 'projectChange' : 'project_change';
  }

  /** Classic `{command, ...payload}` or revisions `{command, data}` framing. */
  private frame(t: Target, command: unknown, payload: Record<string, unknown>): Record<string, unknown> {
    if (t.generation === 'classic') return { command, ...payload };
    return { command, data: payload };
  }

  private changes(t: Target, changes: unknown): Record<string, unknown> {
    if (t.generation === 'classic') return { changes };
    const revisions = [{ revision: `local-${++this.local}`, clientId: 'fuzz', changes }];
    if (this.r.chance(0.2)) revisions.push({ revision: this.r.chance(0.5) ? `local-${this.local}` : (this.value() as string), clientId: this.value() as string, changes: this.changeSet(t) });
    if (this.r.chance(0.05)) (revisions[0] as Record<string, unknown>).conflictResolutionFor = this.value();
    return { client: 'fuzz', revisions: this.r.chance(0.05) ? this.value() : revisions };
  }

  change(t: Target): Record<string, unknown> {
    const r = this.r;
    const project = r.chance(0.9) ? t.project : r.pick(t.projects);
    const message = this.frame(t, this.changeCommand(t), { project, ...this.changes(t, r.chance(0.05) ? this.value() : this.changeSet(t)) });
    if (r.chance(0.03)) message[r.pick(PROTO_KEYS)] = this.value();
    return message;
  }

  /** A change set: one to three stores, mostly known ones, with added, updated and removed records. */
  changeSet(t: Target): Record<string, unknown> {
    const r = this.r;
    const changes: Record<string, unknown> = {};
    for (let n = r.int(1, 3); n > 0; n--) {
      const store = r.chance(0.9) ? r.pick(KNOWN) : r.pick(ODD_STORES);
      changes[store] = r.chance(0.05) ? this.value() : this.storeChange(t, store);
    }
    if (r.chance(0.15)) changes.project = r.chance(0.8) ? { [r.pick(['startDate', 'calendar', 'hoursPerDay', 'name', '$input', 'id', ...PROTO_KEYS])]: this.value() } : this.value();
    return changes;
  }

  private storeChange(t: Target, store: string): Record<string, unknown> {
    const r = this.r;
    const change: Record<string, unknown> = {};
    if (r.chance(0.5)) change.added = this.list(() => this.record(t, store, 'added'));
    if (r.chance(0.4)) change.updated = this.list(() => this.record(t, store, 'updated'));
    if (r.chance(0.2)) change.removed = this.list(() => ({ id: this.id(t, store) }));
    if (t.generation === 'revisions' ? r.chance(0.7) : r.chance(0.1)) change.$input = { ...change };
    if (r.chance(0.05)) change[r.pick(['added', 'updated', 'removed', ...PROTO_KEYS])] = this.value();
    return change;
  }

  private list<T>(make: () => T): T[] {
    const out: T[] = [];
    for (let n = this.r.chance(0.02) ? 300 : this.r.int(1, 3); n > 0; n--) out.push(make());
    return out;
  }

  private record(t: Target, store: string, kind: 'added' | 'updated'): Record<string, unknown> {
    const r = this.r;
    const record: Record<string, unknown> = {};
    if (kind === 'added') {
      if (r.chance(0.9)) record.$PhantomId = this.phantom();
      if (r.chance(0.2)) record.id = this.id(t, store);
    } else record.id = this.id(t, store);
    const fields = Object.hasOwn(FIELDS, store) ? FIELDS[store] : ['name', 'value'];
    for (let n = r.int(0, 3); n > 0; n--) {
      const field = r.pick(fields);
      record[field] = r.chance(0.25) ? this.value() : this.plausible(t, field);
    }
    if (r.chance(0.05)) record[r.chance(0.5) ? r.pick(PROTO_KEYS) : r.pick(this.pools.keys)] = this.value();
    return record;
  }

  /** A value a real client could send in this field. */
  private plausible(t: Target, field: string): unknown {
    const r = this.r;
    const ref = REFS[field];
    if (ref) return r.chance(0.1) ? null : this.id(t, ref);
    if (field === '$PhantomParentId') return r.chance(0.7) && this.phantoms.length ? r.pick(this.phantoms) : this.phantom();
    if (field === 'children') return r.chance(0.5) ? true : [{ $PhantomId: this.phantom(), name: 'child' }];
    if (field === 'intervals') return r.chance(0.5) ? [{ recurrentStartDate: 'on Sat', isWorking: false }] : { added: [{ $PhantomId: this.phantom(), isWorking: true }] };
    if (field === 'content') return r.chance(0.5) ? { tasks: [] } : r.pick(this.pools.json);
    if (field.endsWith('Date') || field === 'savedAt' || field === 'occurredAt') return r.chance(0.8) ? '2026-01-05T00:00:00' : 'not a date';
    if (field === 'parentIndex' || field === 'orderedParentIndex' || field === 'lag' || field === 'duration') return r.int(-2, 50);
    if (field === 'percentDone' || field === 'units') return r.int(0, 100);
    return r.pick(this.pools.strings);
  }

  /** An id: this project's, another project's, a phantom (maybe a clashing one) or a wild value. */
  private id(t: Target, store: string): unknown {
    const r = this.r;
    const roll = r.next();
    const own = t.ids.get(store) ?? t.ids.get('tasks') ?? [];
    if (roll < 0.55 && own.length) return r.pick(own);
    if (roll < 0.7 && t.foreign.length) return r.pick(t.foreign);
    if (roll < 0.85 && this.phantoms.length) return r.pick(this.phantoms);
    if (roll < 0.9 && own.length) return String(r.pick(own));
    return r.chance(0.5) ? r.pick(EDGE_NUMBERS) : this.value();
  }

  /** A phantom id, often one used before (a clash within the message or with earlier ones). */
  private phantom(): string {
    const r = this.r;
    if (this.phantoms.length && r.chance(0.3)) return r.pick(this.phantoms);
    const p = r.chance(0.9) ? `_generated${r.pick(['Task', 'Dep', 'Res', 'Ass'])}_${r.hex(8)}` : String(r.pick([1, 2, 'tasks-17', 'server-1', '']));
    if (this.phantoms.length < 200) this.phantoms.push(p);
    else this.phantoms[r.int(0, 199)] = p;
    return p;
  }

  /** Changes whose parents or dependencies form a loop, alone or with the records already there. */
  private cycle(t: Target): Record<string, unknown> {
    const r = this.r;
    const tasks = t.ids.get('tasks') ?? [];
    const [a, b, c] = [r.pick(tasks) ?? 1, r.pick(tasks) ?? 2, r.pick(tasks) ?? 3];
    const p = this.phantom();
    const q = this.phantom();
    switch (r.int(0, 4)) {
      case 0:
        return { tasks: { updated: [{ id: a, parentId: b }, { id: b, parentId: c }, { id: c, parentId: a }] } };
      case 1:
        return { tasks: { updated: [{ id: a, parentId: a }] } };
      case 2:
        return { tasks: { added: [{ $PhantomId: p, $PhantomParentId: q, name: 'p' }, { $PhantomId: q, $PhantomParentId: p, name: 'q' }] } };
      case 3:
        return { dependencies: { added: [{ $PhantomId: p, fromTask: a, toTask: b }, { $PhantomId: q, fromTask: b, toTask: a }] } };
      default:
        return { tasks: { added: [{ $PhantomId: p, parentId: a, name: 'n' }], updated: [{ id: a, parentId: p }] } };
    }
  }

  private otherCommand(t: Target, command: unknown): Record<string, unknown> {
    const r = this.r;
    const payload: Record<string, unknown> = { project: r.chance(0.6) ? t.project : r.pick(t.projects) };
    if (r.chance(0.5)) payload.versionId = r.chance(0.5) ? r.pick(t.ids.get('versions') ?? [1]) : this.value();
    if (r.chance(0.3)) payload.since = r.chance(0.5) ? `server-${r.int(0, 1e6)}` : this.value();
    if (command === 'login') Object.assign(payload, { login: this.value(), password: this.value() });
    if (r.chance(0.2)) payload[r.pick(PROTO_KEYS)] = this.value();
    if (r.chance(0.003)) return this.frame(t, 'reset', { project: t.project });
    return this.frame(t, command, payload);
  }

  private value(): unknown {
    return wild(this.r, this.pools);
  }

  private randomJson(): string {
    const r = this.r;
    if (r.chance(0.5)) return encode(r.pick(this.pools.json));
    if (r.chance(0.5)) return encode({ command: r.pick(['projectChange', 'project_change', ...OTHER_COMMANDS]), ...(r.pick(this.pools.anything) as object) });
    return encode({ command: r.chance(0.5) ? this.value() : r.pick(OTHER_COMMANDS), data: this.value(), project: this.value() });
  }

  /** Text that is not one JSON object: truncated, trailing garbage, raw tokens, deep nesting. */
  private notJson(): string {
    const r = this.r;
    switch (r.int(0, 5)) {
      case 0:
        return encode({ command: 'projectChange', project: 1, changes: { tasks: { added: [{ name: 'x' }] } } }).slice(0, r.int(0, 40));
      case 1:
        return '{"command":"dataset","project":1}}';
      case 2:
        return encode(new Raw(`{"command":"projectChange","project":1,"changes":${r.pick(['NaN', 'undefined', "{'a':1}", '{"tasks":{"added":[{"id":1e999}]}}'])}}`));
      case 3:
        return deep(r.chance(0.02) ? 200_000 : r.pick([100, 10_000]), r.chance(0.5)).text;
      case 4:
        return r.pick(['', ' ', 'null', '"command"', '[]', '[{"command":"projects"}]', '\ufeff{"command":"projects"}']);
      default:
        return r.pick(this.pools.strings);
    }
  }

  private bytes(): Buffer {
    const r = this.r;
    const n = r.chance(0.05) ? 70_000 : r.int(0, 64);
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = r.int(0, 255);
    return out;
  }
}
