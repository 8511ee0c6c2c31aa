/**
 * What non-owner nodes ask a project's owner to do (NodeRpc), and how the owner does it: the
 * sender's change is committed by the owner's room as if the sender were connected there, named
 * by its connection id, so the stream entry addresses the sender's echo and finals to it.
 *
 * Requests come over Redis: each is checked before anything of it is used.
 */
import { z } from 'zod';
import type { Changes, ProjectId } from '../protocol/schemas.js';
import { ProjectIdSchema } from '../protocol/schemas.js';
import type { ChangeRequest, ProjectRoom, Sender } from '../server/room.js';
import type { NodeRpc } from './node-rpc.js';
import type { YjsPeer } from '../server/yjs-peer.js';

const senderSchema = z.strictObject({
  id: z.string().min(1).max(200),
  user: z.string().max(1000).nullable(),
  generation: z.enum(['classic', 'revisions']),
});

export const ForwardedSchema = z.strictObject({
  project: ProjectIdSchema,
  sender: senderSchema,
  requests: z
    .array(
      z.strictObject({
        changes: z.record(z.string(), z.unknown()),
        localRevision: z.unknown().optional(),
        conflictResolutionFor: z.unknown().optional(),
      }),
    )
    .min(1)
    .max(10_000),
});

export type Forwarded = z.infer<typeof ForwardedSchema>;

const ResetSchema = z.strictObject({ project: ProjectIdSchema, user: z.string().max(1000), announce: z.boolean() });
const VersionContentSchema = z.strictObject({ project: ProjectIdSchema, versionId: z.union([z.string().max(10_000), z.number().finite()]) });
const CreateVersionSchema = z.strictObject({ project: ProjectIdSchema, label: z.string().max(10_000).optional() });
const PeerUpdateSchema = z.strictObject({
  project: ProjectIdSchema,
  peer: z.strictObject({ id: z.string().min(1).max(200), user: z.string().max(1000) }),
  update: z.base64().max(128 * 1024 * 1024),
});
const TouchSchema = z.strictObject({ project: ProjectIdSchema });
const RevisionsSchema = z.strictObject({ project: ProjectIdSchema, from: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), to: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) });
const RestoreSchema = z.strictObject({ project: ProjectIdSchema, n: z.number().int().min(1), user: z.string().max(1000) });

/** A sender as forwarded: its connection id, user name and generation. */
export function forwardedSender(sender: Sender): Forwarded['sender'] {
  return { id: sender.connection.id, user: sender.connection.user?.name ?? null, generation: sender.generation };
}

/** The owner's view of a forwarded sender. */
export function senderOf(forwarded: Forwarded['sender']): Sender {
  return { connection: { id: forwarded.id, user: forwarded.user === null ? null : { name: forwarded.user, group: null } }, generation: forwarded.generation };
}

/** The rooms this node sequences. */
export interface OwnedRooms {
  /** The room of a project this node owns now; null when it does not. */
  owned(project: ProjectId): ProjectRoom | null;
  /** Told of every change forwarded here (the server's inactivity clock). */
  changed?: () => void;
}

function parse<T>(schema: z.ZodType<T>, payload: unknown): T {
  const result = schema.safeParse(payload);
  if (!result.success) throw new Error(`malformed request: ${result.error.issues[0]?.message ?? 'invalid'}`);
  return result.data;
}

/** The error a node gets when it asked the wrong node (the project moved): it sends its clients away. */
export const NOT_OWNER = 'not sequenced by node';

function roomOf(rooms: OwnedRooms, nodeId: string, project: ProjectId): ProjectRoom {
  const room = rooms.owned(project);
  if (!room) throw new Error(`project ${JSON.stringify(project)} is ${NOT_OWNER} ${nodeId}`);
  return room;
}

/** Answer other nodes' requests for the projects this node owns. */
export function serveForwarded(rpc: NodeRpc, nodeId: string, rooms: OwnedRooms): void {
  rpc.handle('submit', async (payload) => {
    const { project, sender, requests } = parse(ForwardedSchema, payload);
    const room = roomOf(rooms, nodeId, project);
    rooms.changed?.();
    const forwarded: ChangeRequest[] = requests.map((r) => ({
      changes: r.changes as Changes,
      ...(r.localRevision !== undefined ? { localRevision: r.localRevision } : {}),
      ...(r.conflictResolutionFor !== undefined ? { conflictResolutionFor: r.conflictResolutionFor } : {}),
    }));
    const failure = await room.submit(senderOf(sender), forwarded);
    // The node that asked tells its client once it delivered the revisions up to here (in order).
    return { failure, revision: room.lastRevision };
  });
  rpc.handle('peerUpdate', async (payload) => {
    const { project, peer, update } = parse(PeerUpdateSchema, payload);
    rooms.changed?.();
    // The peer as the owner's room sees it: named by id; a refusal (a close) goes back to its node.
    let refusal: { code: number; reason: string } | null = null;
    const remote = { id: peer.id, user: { name: peer.user, group: null }, readOnly: false, awarenessClients: new Set<number>(), send: () => {}, close: (code: number, reason: string) => void (refusal ??= { code, reason }) };
    await roomOf(rooms, nodeId, project).applyPeerUpdate(remote as unknown as YjsPeer, new Uint8Array(Buffer.from(update, 'base64')));
    return refusal;
  });
  rpc.handle('touch', (payload) => {
    const { project } = parse(TouchSchema, payload);
    roomOf(rooms, nodeId, project).lastActive = Date.now();
    return null;
  });
  rpc.handle('revisions', (payload) => {
    const { project, from, to } = parse(RevisionsSchema, payload);
    return roomOf(rooms, nodeId, project).loggedRevisions(from, to);
  });
  rpc.handle('reset', async (payload) => {
    const { project, user, announce } = parse(ResetSchema, payload);
    await roomOf(rooms, nodeId, project).reset(user, announce);
    return null;
  });
  rpc.handle('versionContent', (payload) => {
    const { project, versionId } = parse(VersionContentSchema, payload);
    return roomOf(rooms, nodeId, project).versionContent(versionId);
  });
  rpc.handle('createVersion', (payload) => {
    const { project, label } = parse(CreateVersionSchema, payload);
    return roomOf(rooms, nodeId, project).createVersion(label);
  });
  rpc.handle('restore', (payload) => {
    const { project, n, user } = parse(RestoreSchema, payload);
    return roomOf(rooms, nodeId, project).restore(n, user);
  });
}
