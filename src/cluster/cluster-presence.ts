/**
 * Presence across the nodes of a cluster, over one Redis pub/sub channel `<prefix>:presence`:
 *
 *   {t:'s', node, users, projects}  a node's whole presence: its logged-in users and, per project,
 *                                   the names of its subscribers and Yjs peers. Sent when it
 *                                   changes (at most every ANNOUNCE_MS) and every `heartbeatMs`.
 *   {t:'a', node, project, update}  an awareness update of a node's Yjs peers (base64), passed to
 *                                   the other nodes' peers of that project.
 *   {t:'h', node}                   a node that just joined: the others send their state at once.
 *   {t:'b', node}                   a node that shuts down.
 *
 * A node not heard of for three heartbeats (it died) is forgotten, one that says goodbye at once.
 * Anything may publish on the channel: every message is checked.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { ProjectIdSchema, type ProjectId } from '../protocol/schemas.js';
import { ANNOUNCE_MS } from '../server/announcements.js';
import type { PresenceLink, PresenceMember, PresenceMembership } from '../server/room-presence.js';
import { checkNodeId } from './lease.js';
import { checkPrefix, DEFAULT_PREFIX } from './redis-keys.js';

const MAX_NAMES = 100_000;
const names = z.array(z.string().max(1000)).max(MAX_NAMES);
const node = z.string().min(1).max(256);
const messageSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('s'), node, users: names, projects: z.array(z.tuple([ProjectIdSchema, names])).max(1_000_000) }),
  z.strictObject({ t: z.literal('a'), node, project: ProjectIdSchema, update: z.base64().max(4 * 1024 * 1024) }),
  z.strictObject({ t: z.literal('h'), node }),
  z.strictObject({ t: z.literal('b'), node }),
]);
type Message = z.infer<typeof messageSchema>;

/** Messages larger than this are dropped unread. */
const MAX_MESSAGE_CHARS = 64 * 1024 * 1024;
const MAX_REPORTS = 100;

interface NodeState {
  users: string[];
  /** JSON project id -> names. */
  projects: Map<string, string[]>;
  heardAt: number;
}

export interface ClusterPresenceOptions {
  publisher: Redis;
  /** The node's subscriber connection (shared with NodeRpc: it only adds a channel). */
  subscriber: Redis;
  nodeId: string;
  prefix?: string;
  heartbeatMs?: number;
  onError?: (error: Error) => void;
  now?: () => number;
}

/** What the server tells presence of its logins, and hears from it (`bind`). */
export interface UsersLink {
  /** This node's logged-in user names. */
  localUsers: () => string[];
  /** Other nodes' users changed; `joined` are names no node had before, `left` names no node has now. */
  onUsersChanged: (joined: string[], left: string[]) => void;
}

const keyOf = (project: ProjectId) => JSON.stringify(project);
const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined) => (a ?? []).length === (b ?? []).length && (a ?? []).every((x, i) => x === b![i]);

export class ClusterPresence implements PresenceLink {
  readonly nodeId: string;
  private readonly channel: string;
  private readonly heartbeatMs: number;
  private readonly now: () => number;
  private readonly remote = new Map<string, NodeState>();
  /** JSON project id -> the rooms of this node taking part (one, or two while a room is replaced). */
  private readonly members = new Map<string, Set<PresenceMember>>();
  /** JSON project id -> this node's names there (projects where it has none are left out). */
  private readonly local = new Map<string, { project: ProjectId; names: string[] }>();
  private publishTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private started = false;
  private closed = false;
  private reports = 0;
  private users: UsersLink = { localUsers: () => [], onUsersChanged: () => {} };
  private readonly listener = (channel: string, message: string) => {
    if (channel === this.channel) this.receive(message);
  };

  constructor(private readonly options: ClusterPresenceOptions) {
    this.nodeId = checkNodeId(options.nodeId);
    this.channel = `${checkPrefix(options.prefix ?? DEFAULT_PREFIX)}:presence`;
    this.heartbeatMs = options.heartbeatMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  /** The server's side of the users list. */
  bind(users: UsersLink): void {
    this.users = users;
    this.publishSoon();
  }

  async start(): Promise<void> {
    if (this.started || this.closed) return;
    this.started = true;
    this.options.subscriber.on('message', this.listener);
    await this.options.subscriber.subscribe(this.channel);
    this.heartbeat = setInterval(() => {
      this.expire();
      this.publishNow();
    }, this.heartbeatMs);
    this.heartbeat.unref();
    this.send({ t: 'h', node: this.nodeId });
    this.publishNow();
  }

  /** Says goodbye, so other nodes forget its users at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.publishTimer) clearTimeout(this.publishTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (!this.started) return;
    await this.options.publisher.publish(this.channel, JSON.stringify({ t: 'b', node: this.nodeId })).catch(() => 0);
    this.options.subscriber.off('message', this.listener);
    await this.options.subscriber.unsubscribe(this.channel).catch(() => undefined);
  }

  /** The other nodes heard of: their ids, how many users and projects each has, and when they were last heard. */
  nodes(): { id: string; users: number; projects: number; heardAt: string }[] {
    return [...this.remote].map(([id, state]) => ({ id, users: state.users.length, projects: state.projects.size, heardAt: new Date(state.heardAt).toISOString() }));
  }

  /** Names logged in on other nodes. */
  remoteUsers(): string[] {
    const all = new Set<string>();
    for (const state of this.remote.values()) for (const name of state.users) all.add(name);
    return [...all];
  }

  /** This node's logins changed: the other nodes hear of it soon. */
  localUsersChanged(): void {
    this.publishSoon();
  }

  join(project: ProjectId, member: PresenceMember): PresenceMembership {
    const key = keyOf(project);
    let set = this.members.get(key);
    if (!set) this.members.set(key, (set = new Set()));
    set.add(member);
    let left = false;
    return {
      remoteNames: () => this.remoteNames(key),
      localNamesChanged: (list) => {
        if (left) return;
        if (list.length) this.local.set(key, { project, names: list });
        else this.local.delete(key);
        this.publishSoon();
      },
      awareness: (update) => this.send({ t: 'a', node: this.nodeId, project, update: Buffer.from(update).toString('base64') }),
      leave: () => {
        if (left) return;
        left = true;
        set.delete(member);
        // Another room of the project may have joined meanwhile, with a set of its own.
        if (set.size > 0 || this.members.get(key) !== set) return;
        this.members.delete(key);
        if (this.local.delete(key)) this.publishSoon();
      },
    };
  }

  private remoteNames(key: string): string[] {
    const all = new Set<string>();
    for (const state of this.remote.values()) for (const name of state.projects.get(key) ?? []) all.add(name);
    return [...all];
  }

  private publishSoon(): void {
    if (this.publishTimer || this.closed || !this.started) return;
    this.publishTimer = setTimeout(() => {
      this.publishTimer = null;
      this.publishNow();
    }, ANNOUNCE_MS);
    this.publishTimer.unref();
  }

  private publishNow(): void {
    if (this.closed) return;
    const projects = [...this.local.values()].map(({ project, names }) => [project, names] as const);
    this.send({ t: 's', node: this.nodeId, users: [...new Set(this.users.localUsers())], projects: projects as [ProjectId, string[]][] });
  }

  private send(message: Message): void {
    if (this.closed) return;
    this.options.publisher.publish(this.channel, JSON.stringify(message)).catch((error: Error) => this.report(`presence: cannot publish: ${error.message}`));
  }

  private receive(text: string): void {
    if (this.closed) return;
    if (typeof text !== 'string' || text.length > MAX_MESSAGE_CHARS) return this.report('presence: dropped a message too large');
    let parsed;
    try {
      parsed = messageSchema.safeParse(JSON.parse(text));
    } catch {
      return this.report('presence: dropped a message that is not JSON');
    }
    if (!parsed.success) return this.report('presence: dropped a malformed message');
    const message = parsed.data;
    if (message.node === this.nodeId) return;
    if (message.t === 'h') return this.publishNow();
    if (message.t === 'a') {
      const bytes = new Uint8Array(Buffer.from(message.update, 'base64'));
      for (const member of this.members.get(keyOf(message.project)) ?? []) this.safely(() => member.applyRemoteAwareness(bytes));
      return;
    }
    if (message.t === 'b') return this.replace(message.node, null);
    this.replace(message.node, { users: [...new Set(message.users)], projects: new Map(message.projects.map(([project, list]) => [keyOf(project), list])), heardAt: this.now() });
  }

  /** Nodes not heard of for three heartbeats are gone. */
  private expire(): void {
    const limit = this.now() - 3 * this.heartbeatMs;
    for (const [nodeId, state] of this.remote) if (state.heardAt < limit) this.replace(nodeId, null);
  }

  private replace(nodeId: string, next: NodeState | null): void {
    const before = this.remote.get(nodeId);
    const usersChanged = !sameList(before?.users, next?.users);
    const usersBefore = usersChanged ? new Set(this.remoteUsers()) : null;
    if (next) this.remote.set(nodeId, next);
    else this.remote.delete(nodeId);
    if (usersBefore) {
      const mine = new Set(this.users.localUsers());
      const usersAfter = new Set(this.remoteUsers());
      const joined = [...usersAfter].filter((name) => !usersBefore.has(name) && !mine.has(name));
      const left = [...usersBefore].filter((name) => !usersAfter.has(name) && !mine.has(name));
      this.safely(() => this.users.onUsersChanged(joined, left));
    }
    const keys = new Set([...(before?.projects.keys() ?? []), ...(next?.projects.keys() ?? [])]);
    for (const key of keys) {
      if (sameList(before?.projects.get(key), next?.projects.get(key))) continue;
      for (const member of this.members.get(key) ?? []) this.safely(() => member.namesChanged());
    }
  }

  private safely(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.report(`presence: ${(error as Error).message}`);
    }
  }

  private report(message: string): void {
    if (this.reports++ < MAX_REPORTS) this.options.onError?.(new Error(message));
  }
}
