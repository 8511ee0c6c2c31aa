/** Part "soak" of npm run reliability (being written). */
import type { Part } from './part.js';

export const soakPart: Part = {
  name: 'soak',
  summary: 'not written yet',
  run: async () => {
    throw new Error('part soak is not written yet');
  },
};
