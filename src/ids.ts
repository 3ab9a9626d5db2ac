// Generated identifiers: a type prefix and 20 characters of base32 (100 random bits).
// Tenant ids become file names, so they are only ever made here and checked on use.
import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export type IdKind = 't' | 'u' | 'k' | 'a' | 'l' | 'p' | 'r' | 's';

export function newId(kind: IdKind): string {
  const bytes = randomBytes(20);
  let out = `${kind}_`;
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

export function isId(kind: IdKind, value: string): boolean {
  return new RegExp(`^${kind}_[a-z2-7]{20}$`).test(value);
}
