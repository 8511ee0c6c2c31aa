/** A dataset diff as text for people: one line per record, `+` added, `-` removed, `~` changed. */
import type { DatasetDiff, FieldChange, StoreDiff } from './diff.js';

const MAX_VALUE = 80;

function value(v: unknown): string {
  const text = JSON.stringify(v) ?? 'undefined';
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

function label(record: { id?: unknown; name?: unknown }): string {
  const name = typeof record.name === 'string' ? ` ${value(record.name)}` : '';
  return `${value(record.id)}${name}`;
}

function fieldLine(field: string, change: FieldChange): string {
  if (!('before' in change)) return `${field}: (none) -> ${value(change.after)}`;
  if (!('after' in change)) return `${field}: ${value(change.before)} -> (none)`;
  return `${field}: ${value(change.before)} -> ${value(change.after)}`;
}

function storeLines(name: string, diff: StoreDiff): string[] {
  const counts = [
    diff.added.length && `${diff.added.length} added`,
    diff.removed.length && `${diff.removed.length} removed`,
    diff.changed.length && `${diff.changed.length} changed`,
    diff.children?.length && `${diff.children.length} parent(s) with other children`,
  ].filter(Boolean);
  const lines = [`${name}: ${counts.join(', ')}`];
  for (const r of diff.added) lines.push(`  + ${label(r)}`);
  for (const r of diff.removed) lines.push(`  - ${label(r)}`);
  for (const c of diff.changed) {
    for (const [field, change] of Object.entries(c.fields)) lines.push(`  ~ ${label(c)} ${fieldLine(field, change)}`);
  }
  for (const c of diff.children ?? []) {
    const before = new Set(c.before.map(String));
    const after = new Set(c.after.map(String));
    const gained = c.after.filter((id) => !before.has(String(id)));
    const lost = c.before.filter((id) => !after.has(String(id)));
    const parts = [gained.length && `gained ${gained.map(value).join(', ')}`, lost.length && `lost ${lost.map(value).join(', ')}`].filter(Boolean);
    if (!parts.length) parts.push('order changed');
    lines.push(`  > under ${c.parent === null ? '(top level)' : value(c.parent)}: ${parts.join('; ')}`);
  }
  return lines;
}

export function diffText(diff: DatasetDiff, from: string, to: string): string {
  const lines = [`diff ${from} -> ${to}`];
  for (const [store, d] of Object.entries(diff.stores)) lines.push(...storeLines(store, d));
  const project = Object.entries(diff.project);
  if (project.length) {
    lines.push(`project: ${project.length} field(s) changed`);
    for (const [field, change] of project) lines.push(`  ~ ${fieldLine(field, change)}`);
  }
  if (lines.length === 1) lines.push('no differences');
  return lines.join('\n');
}
