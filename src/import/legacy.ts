// Temporary: replaced by the legacy reader.
import type { Reader } from './types.js';

export const readLegacy: Reader = async function* () {};
