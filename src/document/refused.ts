/**
 * A change refused before any of it was written: the document is as it was, so the project need
 * not be reloaded from storage (which a client could otherwise make happen at will).
 */
export class RefusedChange extends Error {}
