/** A stored project state (Yjs V2 parts) seen as the dataset a client would load. */
import { ProjectDocument } from '../document/project-document.js';

/** Built part by part and serialized in paced stretches, so a large version does not stall other work. */
export async function datasetOfState(state: Uint8Array[]): Promise<Record<string, unknown>> {
  const document = await ProjectDocument.load(state);
  try {
    return await document.dataset(true);
  } finally {
    document.destroy();
  }
}
