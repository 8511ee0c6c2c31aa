/** The simulation's report: a JSON object, and its text form for people. */
import { canonical, type Divergence, type Problem } from './check.js';
import { CLIENT_KINDS, type ClientKind } from './client.js';
import { OP_KINDS, type OpKind } from './ops.js';
import type { ClientSummary, Outcome } from './runner.js';

export interface Report {
  url: string;
  project: string | number;
  seed: number;
  durationSeconds: number;
  mix: Record<ClientKind, number>;
  offlineRate: number;
  ops: {
    total: number;
    skipped: number;
    byKind: Partial<Record<OpKind, number>>;
    byClientKind: Record<ClientKind, Partial<Record<OpKind, number>>>;
  };
  messagesReceived: number;
  /** Server revisions made during the run (every merged change, repairs included). */
  merged: number;
  /** Server revisions from 'weft-server' (repairs, corrections, concurrent-write finals). */
  repairs: number;
  clients: ClientSummary[];
  settled: boolean;
  unsettled: { client: string; state: string }[];
  converged: boolean;
  valid: boolean;
  divergenceCount: number;
  divergences: Divergence[];
  problems: Problem[];
  finalCounts: Record<string, number>;
  documentChecked: boolean;
}

/** At most this many divergences are listed (the count is always given). */
const LISTED = 200;

export function buildReport(
  input: { url: string; project: string | number; seed: number; durationSeconds: number; mix: Record<ClientKind, number>; offlineRate: number },
  clients: ClientSummary[],
  outcome: Outcome,
  observerMessages: number,
): Report {
  const byKind: Partial<Record<OpKind, number>> = {};
  const byClientKind = Object.fromEntries(CLIENT_KINDS.map((k) => [k, {}])) as Record<ClientKind, Partial<Record<OpKind, number>>>;
  let total = 0;
  let skipped = 0;
  let messages = observerMessages;
  for (const c of clients) {
    skipped += c.skipped;
    messages += c.messages;
    for (const [kind, n] of Object.entries(c.ops) as [OpKind, number][]) {
      total += n;
      byKind[kind] = (byKind[kind] ?? 0) + n;
      byClientKind[c.kind][kind] = (byClientKind[c.kind][kind] ?? 0) + n;
    }
  }
  return {
    ...input,
    ops: { total, skipped, byKind, byClientKind },
    messagesReceived: messages,
    merged: outcome.revisions,
    repairs: outcome.repairs,
    clients,
    settled: outcome.settled,
    unsettled: outcome.unsettled,
    converged: outcome.converged,
    valid: outcome.valid,
    divergenceCount: outcome.divergences.length,
    divergences: outcome.divergences.slice(0, LISTED),
    problems: outcome.problems,
    finalCounts: outcome.counts,
    documentChecked: outcome.documentChecked,
  };
}

const show = (v: unknown) => (v === undefined ? '(none)' : canonical(v).slice(0, 160));

export function describeDivergence(d: Divergence): string {
  const where = d.store === 'project' ? `project field ${d.field}` : `${d.store} ${d.record}`;
  switch (d.kind) {
    case 'missing':
      return `${d.replica}: ${where} missing (server has ${show(d.serverValue)})`;
    case 'extra':
      return `${d.replica}: ${where} not on the server (${show(d.replicaValue)})`;
    case 'order':
      return `${d.replica}: children of ${d.record} in another order: ${show(d.replicaValue)} (server ${show(d.serverValue)})`;
    case 'field':
      return `${d.replica}: ${d.store === 'project' ? where : `${where} field ${d.field}`}: ${show(d.replicaValue)} (server ${show(d.serverValue)})`;
  }
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => '  ' + r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')).join('\n');
}

export function formatReport(r: Report): string {
  const lines: string[] = [];
  const mix = CLIENT_KINDS.filter((k) => r.mix[k]).map((k) => `${k} ${r.mix[k]}`).join(', ');
  const clientCount = CLIENT_KINDS.reduce((n, k) => n + r.mix[k], 0);
  lines.push(`Simulated ${clientCount} clients (${mix}) on project ${JSON.stringify(r.project)} for ${r.durationSeconds} s, seed ${r.seed}, offline rate ${r.offlineRate}`);
  lines.push('');
  lines.push(`Ops sent: ${r.ops.total}${r.ops.skipped ? ` (${r.ops.skipped} more no longer fitted the view)` : ''}`);
  const kinds = OP_KINDS.filter((k) => r.ops.byKind[k]);
  if (kinds.length) {
    const header = ['op', ...CLIENT_KINDS.filter((k) => r.mix[k]), 'total'];
    const rows = kinds.map((k) => [k, ...CLIENT_KINDS.filter((c) => r.mix[c]).map((c) => String(r.ops.byClientKind[c][k] ?? 0)), String(r.ops.byKind[k] ?? 0)]);
    lines.push(table([header, ...rows]));
  }
  lines.push(`Messages received: ${r.messagesReceived}`);
  lines.push(`Merged: ${r.merged} server revisions, of which ${r.repairs} from weft-server (repairs, corrections)`);
  lines.push(`Final state: ${Object.entries(r.finalCounts).map(([s, n]) => `${n} ${s}`).join(', ')}`);
  const errors = r.clients.flatMap((c) => c.errors.map((e) => `${c.name}: ${e}`));
  if (errors.length) {
    lines.push(`Errors from the server (${errors.length}):`);
    for (const e of errors.slice(0, 20)) lines.push(`  ${e}`);
  }
  lines.push('');
  if (!r.settled) {
    lines.push('Did not settle: some clients never got back in step:');
    for (const u of r.unsettled) lines.push(`  ${u.client}: ${u.state}`);
  }
  if (r.problems.length) {
    lines.push(`Invalid (${r.problems.length}):`);
    for (const p of r.problems.slice(0, 50)) lines.push(`  ${p.replica}: ${p.problem}`);
  }
  if (r.divergenceCount) {
    lines.push(`Divergences (${r.divergenceCount}):`);
    for (const d of r.divergences.slice(0, 50)) lines.push(`  ${describeDivergence(d)}`);
    if (r.divergenceCount > 50) lines.push(`  ... ${r.divergenceCount - 50} more (see --json)`);
  }
  const verdict = r.converged && r.valid ? 'OK: every client converged with the server and the project is valid' : `FAILED: ${[!r.converged && 'diverged', !r.valid && 'invalid'].filter(Boolean).join(' and ')}`;
  lines.push(verdict + (r.documentChecked ? '' : ' (server document not checked: y-websocket not installed)'));
  return lines.join('\n');
}
