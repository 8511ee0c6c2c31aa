/**
 * Prometheus metrics (prom-client), one registry per server so several servers in one process
 * keep apart. The change counter and the write histogram are fed by every storage write; gauges
 * read the server's state when scraped; the process metrics are prom-client's defaults.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the gauges read at scrape time. */
export interface MetricsSource {
  connections(): { generation: string; kind: string; count: number }[];
  loggedInUsers(): number;
  projectsLoaded(): number;
  bufferedBytes(): number;
  /** Messages and characters sent to Bryntum clients so far. */
  sent(): { messages: number; chars: number };
  /** The most jobs (changes, loads, ...) waiting in one project's queue now. */
  longestQueue(): number;
}

/** What the cluster gauges read (several nodes). */
export interface ClusterMetricsSource {
  nodeId: string;
  /** Loaded projects this node sequences, and follows. */
  projects(): { sequenced: number; followed: number };
  /** Nodes this node knows of, itself included. */
  nodes(): number;
  /** Changes other nodes forwarded here so far. */
  forwarded(): number;
}

/** Kinds of errors counted in `weft_errors_total`. */
export type ErrorKind = 'protocol' | 'refused_change' | 'login_failed' | 'over_rate' | 'internal';

export class Metrics {
  readonly registry = new Registry();
  readonly changes: Counter;
  readonly storageWriteSeconds: Histogram;
  readonly commitSeconds: Histogram;
  readonly errors: Counter<'kind'>;

  constructor(source: MetricsSource, cluster?: ClusterMetricsSource) {
    const registers = [this.registry];
    // Several nodes: every series names its node, so one Prometheus can scrape them all.
    if (cluster) this.registry.setDefaultLabels({ node: cluster.nodeId });
    collectDefaultMetrics({ register: this.registry, prefix: 'weft_' });
    if (cluster) {
      new Gauge({
        name: 'weft_cluster_projects',
        help: 'Loaded projects by role: sequenced (this node owns them) or followed',
        labelNames: ['role'],
        registers,
        collect() {
          const { sequenced, followed } = cluster.projects();
          this.set({ role: 'sequenced' }, sequenced);
          this.set({ role: 'followed' }, followed);
        },
      });
      new Gauge({ name: 'weft_cluster_nodes', help: 'Nodes this node hears of through Redis, itself included', registers, collect() { this.set(cluster.nodes()); } });
      new Counter({ name: 'weft_cluster_forwarded_changes_total', help: 'Changes and Yjs updates other nodes forwarded to this node to sequence', registers, collect() { this.reset(); this.inc(cluster.forwarded()); } });
    }
    new Gauge({
      name: 'weft_connections',
      help: 'Open connections by protocol generation and kind (bryntum, yjs)',
      labelNames: ['generation', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const { generation, kind, count } of source.connections()) this.set({ generation, kind }, count);
      },
    });
    new Gauge({ name: 'weft_logged_in_users', help: 'Distinct users logged in', registers, collect() { this.set(source.loggedInUsers()); } });
    new Gauge({ name: 'weft_projects_loaded', help: 'Projects held in memory', registers, collect() { this.set(source.projectsLoaded()); } });
    new Gauge({ name: 'weft_buffered_bytes', help: 'Bytes waiting to be sent to slow clients', registers, collect() { this.set(source.bufferedBytes()); } });
    new Counter({ name: 'weft_messages_sent_total', help: 'Messages sent to Bryntum clients', registers, collect() { this.reset(); this.inc(source.sent().messages); } });
    new Counter({ name: 'weft_sent_characters_total', help: 'Characters (UTF-16 code units) of the messages sent to Bryntum clients', registers, collect() { this.reset(); this.inc(source.sent().chars); } });
    new Gauge({ name: 'weft_project_queue_longest', help: 'The most jobs waiting in one project queue', registers, collect() { this.set(source.longestQueue()); } });
    this.commitSeconds = new Histogram({ name: 'weft_commit_seconds', help: 'A change from its turn in the project queue to stored and sent', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers });
    this.errors = new Counter({ name: 'weft_errors_total', help: 'Errors by kind: protocol (bad frames and commands), refused_change, login_failed, over_rate, internal', labelNames: ['kind'], registers });
    this.changes = new Counter({ name: 'weft_changes_committed_total', help: 'Revisions stored: client changes, Yjs peer writes, repairs, restores', registers });
    this.storageWriteSeconds = new Histogram({ name: 'weft_storage_write_seconds', help: 'LevelDB batch writes', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
