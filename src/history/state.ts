/** A stored project state (Yjs V2 parts) seen as the dataset a client would load. */
import { datasetPieces } from '../document/dataset.js';
import { ProjectDocument } from '../document/project-document.js';

/** Built part by part and serialized in paced stretches, so a large version does not stall other work. */
export async function datasetOfState(state: Uint8Array[]): Promise<Record<string, unknown>> {
  return JSON.parse((await datasetTextOfState(state)).join(''));
}

/** The same as pieces of JSON text, for sending without parsing it first. */
export async function datasetTextOfState(state: Uint8Array[]): Promise<string[]> {
  const document = await ProjectDocument.load(state);
  try {
    return datasetPieces(await document.datasetTexts());
  } finally {
    document.destroy();
  }
}
