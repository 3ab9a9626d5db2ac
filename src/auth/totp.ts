// TOTP (RFC 6238, through otpauth): new secrets, the otpauth:// URI an authenticator app
// scans (as a QR code made here, server-side) and a code's check against the given clock.
// The secret is sealed for storage by src/auth/secret-box.ts (see mfa.ts).
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';

export const TOTP_ISSUER = 'agentmeter';

const totp = (secret: string, label = '') =>
  new TOTP({ issuer: TOTP_ISSUER, label, secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 });

/** 160 random bits, base32: what authenticator apps expect. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The otpauth:// URI for `label` (the person's email). */
export function totpUri(secret: string, label: string): string {
  return totp(secret, label).toString();
}

/** A QR code of `text` as an SVG data URI (the CSP allows `img-src data:`; no script needed). */
export async function qrDataUri(text: string): Promise<string> {
  const svg = await QRCode.toString(text, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/** The code for `at` (what an authenticator shows then). */
export function totpCode(secret: string, at: Date): string {
  return totp(secret).generate({ timestamp: at.getTime() });
}

/**
 * The 30-second step `code` belongs to, if it is the code of the step at `now` or of one step
 * either side (clocks drift, people type slowly); null otherwise.
 */
export function matchingStep(secret: string, code: string, now: Date): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const t = totp(secret);
  const delta = t.validate({ token: code, timestamp: now.getTime(), window: 1 });
  return delta === null ? null : t.counter({ timestamp: now.getTime() }) + delta;
}
