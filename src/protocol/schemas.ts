/**
 * Shapes of everything a client may send, in both generations. Framing is removed first
 * (see codec.ts), so each command has one payload schema whichever generation sent it.
 */
import { z } from 'zod';

export const ProjectIdSchema = z.union([z.number().finite(), z.string().min(1).max(256)], {
  error: 'project must be a number or a non-empty string',
});
export type ProjectId = z.infer<typeof ProjectIdSchema>;

export const RecordIdSchema = z.union([z.number().finite(), z.string().min(1).max(1024)], {
  error: 'a record id must be a number or a non-empty string',
});

const JsonObject = z.record(z.string(), z.unknown(), { error: 'expected an object' });
export type JsonObject = Record<string, unknown>;

const AddedRecord = JsonObject;
const UpdatedRecord = z.looseObject({ id: RecordIdSchema });
const RemovedRecord = z.looseObject({ id: RecordIdSchema });

const StoreDelta = {
  added: z.array(AddedRecord).optional(),
  updated: z.array(UpdatedRecord).optional(),
  removed: z.array(RemovedRecord).optional(),
};

export const StoreChangeSchema = z.looseObject({
  ...StoreDelta,
  $input: z.looseObject(StoreDelta).optional(),
});
export type StoreChange = z.infer<typeof StoreChangeSchema>;

/** `changes.project`: plain project fields, possibly with `$input` and the client's own project id. */
export const ProjectFieldsSchema = JsonObject;

export const ChangesSchema = z
  .record(z.string(), z.unknown(), { error: 'changes must be an object keyed by store' })
  .superRefine((changes, ctx) => {
    for (const [key, value] of Object.entries(changes)) {
      if (value === null || value === undefined) continue;
      const schema = key === 'project' ? ProjectFieldsSchema : StoreChangeSchema;
      const result = schema.safeParse(value);
      if (!result.success) {
        for (const issue of result.error.issues) ctx.addIssue({ ...issue, path: [key, ...issue.path] } as never);
      }
    }
  });
export type Changes = Record<string, unknown>;

const WithProject = z.looseObject({ project: ProjectIdSchema });

export const LoginSchema = z.looseObject({
  login: z.string({ error: 'login must be a string' }).min(1, 'login must not be empty').max(256),
  password: z.string().optional().nullable(),
  /** An app-issued token (JWT), instead of a password. */
  token: z.string({ error: 'token must be a string' }).max(16_384).optional(),
});

export const DatasetSchema = WithProject;

export const ProjectChangeSchema = z.looseObject({ project: ProjectIdSchema, changes: ChangesSchema });

export const IncomingRevisionSchema = z.looseObject({
  revision: z.unknown().optional(),
  localRevisionId: z.unknown().optional(),
  revisionId: z.unknown().optional(),
  clientId: z.unknown().optional(),
  changes: ChangesSchema,
  conflictResolutionFor: z.unknown().optional(),
});
export type IncomingRevision = z.infer<typeof IncomingRevisionSchema>;

export const RevisionsChangeSchema = z.looseObject({
  project: ProjectIdSchema,
  revisions: z.array(IncomingRevisionSchema, { error: 'revisions must be an array' }),
});

export const LoadVersionContentSchema = z.looseObject({ project: ProjectIdSchema.optional(), versionId: RecordIdSchema });

/** Weft's own extension: revisions after a known server revision. */
export const CatchUpSchema = z.looseObject({ project: ProjectIdSchema, since: z.string().regex(/^server-\d+$/, 'since must look like "server-N"') });

/** One readable sentence out of a zod error, naming the field. */
export function describeIssues(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid message';
  const path = issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '';
  return path ? `${path}: ${issue.message}` : issue.message;
}
