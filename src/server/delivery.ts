/**
 * Delivering a project's committed revisions to the clients subscribed to it on this node.
 *
 * What a commit sends is one `Delivery`, plain data addressed by connection id rather than by
 * socket, so the same result can be handed to this node's `Fanout` at once or carried to another
 * node (a project's stream in cluster mode) and handed to its `Fanout` there.
 */
import type { Changes, ProjectId } from '../protocol/schemas.js';
import { classicChange, encoderFor, type Generation, type OutgoingRevision } from '../protocol/codec.js';
import type { Connection } from './connection.js';
import { Outbox } from './outbox.js';

export interface Delivery {
  /** Revisions in order, as revisions-generation clients get them. */
  revisions: OutgoingRevision[];
  /** As classic clients get them (fields muted by CorrectionLoops left out); absent: the same. */
  classic?: OutgoingRevision[];
  /** The sender of a change that added no record, by connection id: if classic, it is not echoed its own revisions (classic rule). */
  noEcho?: string;
  /** Final values of what a classic sender wrote concurrently with others, for that sender only. */
  finals?: { connection: string; changes: Changes };
}

/** A project's subscribers on this node, and how revisions reach them. */
export class Fanout {
  readonly subscribers = new Set<Connection>();
  /** Holds what a burst of changes sends, to leave in one write per receiver (src/server/outbox.ts). */
  private readonly outbox = new Outbox();

  constructor(private readonly project: ProjectId) {}

  /**
   * Send a delivery to every subscriber in its own framing, serialized once per generation.
   * `hold`: more changes are on their way; what is sent now leaves with theirs.
   */
  deliver(delivery: Delivery, hold: boolean): void {
    const { revisions, noEcho, finals } = delivery;
    if (revisions.length > 0) {
      const frames: Partial<Record<Generation, Buffer[]>> = {};
      let echoless: string[] | undefined;
      for (const connection of this.subscribers) {
        if (hold) this.outbox.hold(connection);
        const generation: Generation = connection.generation;
        const list = generation === 'classic' ? (delivery.classic ?? revisions) : revisions;
        // Only classic clients go without the echo of their change (revisions clients await it).
        if (generation === 'classic' && connection.id === noEcho) {
          echoless ??= encoderFor(generation).changes(this.project, list.filter((r) => r.client !== noEcho));
          for (const frame of echoless) connection.send(frame);
          continue;
        }
        // Encoded once per generation; every receiver's socket is given the same bytes.
        const encoded = (frames[generation] ??= encoderFor(generation).changes(this.project, list).map((text) => Buffer.from(text)));
        for (const frame of encoded) connection.send(frame);
      }
    }
    if (finals) {
      for (const connection of this.subscribers) if (connection.id === finals.connection) connection.send(classicChange(this.project, finals.changes));
    }
  }

  /** Let everything held leave. */
  flush(): void {
    this.outbox.flush();
  }
}
