// Secrets the server must read back (identity providers' client secrets, TOTP secrets, alert
// channels' SMTP passwords and webhook signing secrets), sealed at rest: AES-256-GCM under a
// key derived (HKDF) from the data directory's secret for one purpose, and bound to one
// owner (a sealed value copied onto another row does not open).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';

/** What a key is for; each purpose has its own key. */
export type SealPurpose =
  | 'agentmeter sso client secret'
  | 'agentmeter totp secrets v1'
  | 'agentmeter alert channel secret';

function keyOf(serverSecret: Buffer, purpose: SealPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecret, Buffer.alloc(0), purpose, 32));
}

export function sealSecret(serverSecret: Buffer, purpose: SealPurpose, owner: string, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(serverSecret, purpose), iv).setAAD(Buffer.from(owner));
  const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64')}`;
}

export function openSecret(serverSecret: Buffer, purpose: SealPurpose, owner: string, stored: string): string {
  const [version, body] = stored.split(':');
  if (version !== VERSION || !body) throw new Error('unknown secret format');
  const raw = Buffer.from(body, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', keyOf(serverSecret, purpose), raw.subarray(0, 12)).setAAD(
    Buffer.from(owner),
  );
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}
