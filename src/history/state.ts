/** A stored project state (Yjs V2) seen as the dataset a client would load. */
import { ProjectDocument } from '../document/project-document.js';

export async function datasetOfState(state: Uint8Array): Promise<Record<string, unknown>> {
  const document = ProjectDocument.fromUpdate(state);
  try {
    return await document.dataset();
  } finally {
    document.destroy();
  }
}
