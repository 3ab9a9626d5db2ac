// argon2id (OWASP's minimum: 19 MiB, 2 passes, 1 lane) in WebAssembly, so the single
// executable needs no second native module.
import { randomBytes } from 'node:crypto';
import { argon2id, argon2Verify } from 'hash-wasm';

const PARAMS = { iterations: 2, parallelism: 1, memorySize: 19456, hashLength: 32 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2id({ ...PARAMS, password, salt: randomBytes(16), outputType: 'encoded' });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2Verify({ password, hash });
  } catch {
    return false;
  }
}

// Checked when the email is unknown, so a miss costs as long as a wrong password.
let decoy: Promise<string> | null = null;
export async function verifyAgainstDecoy(password: string): Promise<false> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  await verifyPassword(await decoy, password);
  return false;
}

export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
