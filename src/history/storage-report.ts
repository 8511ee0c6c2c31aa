/** What each project and its history take in LevelDB, by kind of data. */
import type { ProjectId } from '../protocol/schemas.js';
import type { Storage } from '../persistence/storage.js';

export interface Usage {
  keys: number;
  bytes: number;
}

/** Key sections (see persistence/keys.ts) grouped into the parts people ask about. */
const PARTS = {
  document: ['snap', 'snapseq', 'u'],
  revisionLog: ['rv'],
  phantoms: ['pn', 'ph'],
  versionContents: ['vc'],
  serverVersions: ['ver', 'vs', 'verpending'],
  datasetTexts: ['dt', 'dtseq'],
} as const;
export type UsagePart = keyof typeof PARTS | 'other';

export const PART_TITLES: Record<UsagePart, string> = {
  document: 'document (snapshot + updates)',
  revisionLog: 'revision log',
  phantoms: 'phantom map',
  versionContents: 'Bryntum version contents',
  serverVersions: 'server versions',
  datasetTexts: 'dataset texts (served while a large project loads)',
  other: 'other (counters)',
};

export interface ProjectUsage {
  project: ProjectId;
  parts: Record<UsagePart, Usage>;
  total: Usage;
}

const partOf = new Map<string, UsagePart>(Object.entries(PARTS).flatMap(([part, sections]) => sections.map((s) => [s, part as UsagePart] as const)));

export async function storageReport(storage: Storage): Promise<ProjectUsage[]> {
  const out: ProjectUsage[] = [];
  for (const project of await storage.projectIds()) {
    const parts = Object.fromEntries(Object.keys(PART_TITLES).map((p) => [p, { keys: 0, bytes: 0 }])) as Record<UsagePart, Usage>;
    const total = { keys: 0, bytes: 0 };
    for (const [section, usage] of await storage.project(project).usageBySection()) {
      const part = parts[partOf.get(section) ?? 'other'];
      part.keys += usage.keys;
      part.bytes += usage.bytes;
      total.keys += usage.keys;
      total.bytes += usage.bytes;
    }
    out.push({ project, parts, total });
  }
  return out;
}
