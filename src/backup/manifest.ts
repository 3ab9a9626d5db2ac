// What a backup holds, written last as `manifest.json` beside its files: each file's size
// and SHA-256 (a damaged or truncated copy is found before it is restored) and, per
// tenant, its last event. A directory without a manifest is not a backup.
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  openSync,
  closeSync,
  fsyncSync,
  readFileSync,
  statSync,
  writeFileSync,
  renameSync,
} from 'node:fs';
import { dirname, join, normalize, isAbsolute } from 'node:path';
import { z } from 'zod';
import { isId } from '../ids.js';

export const MANIFEST = 'manifest.json';

const fileSchema = z.object({
  path: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
const tenantSchema = z.object({
  id: z.string().refine((id) => isId('t', id), 'not a tenant id'),
  name: z.string(),
  /** The tenant's file in the backup, or null when it could not be copied (`unavailable` says why). */
  file: z.string().nullable(),
  events: z.number().int().nonnegative(),
  /** The commit order number of its newest event, and when that event was received (UTC). */
  last_seq: z.number().int().nonnegative().nullable(),
  last_received_at: z.string().nullable(),
  unavailable: z.string().optional(),
});

export const manifestSchema = z.object({
  format: z.literal('agentmeter-backup'),
  version: z.literal(1),
  /** `full`: the control database and every tenant; `tenant`: one tenant to move elsewhere. */
  kind: z.enum(['full', 'tenant']),
  created_at: z.string(),
  files: z.array(fileSchema),
  tenants: z.array(tenantSchema),
  /** `tenant` exports: the tenant's people and API keys (hashes), made again where it is imported. */
  people: z.array(z.record(z.string(), z.unknown())).optional(),
  api_keys: z.array(z.record(z.string(), z.unknown())).optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestFile = z.infer<typeof fileSchema>;
export type ManifestTenant = z.infer<typeof tenantSchema>;

export class BackupError extends Error {}

/** The tenants a backup holds no file of (their file could not be copied): an incomplete backup. */
export const notCopied = (manifest: Pick<Manifest, 'tenants'>) =>
  manifest.tenants.filter((t) => t.file === null).map((t) => ({ id: t.id, name: t.name, why: t.unavailable ?? null }));

export async function describeFile(dir: string, path: string): Promise<ManifestFile> {
  const full = join(dir, path);
  return { path, bytes: statSync(full).size, sha256: await sha256(full) };
}

function sha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Writes the manifest by rename, after flushing every file it lists: it is the backup's commit. */
export function writeManifest(dir: string, manifest: Manifest): void {
  for (const f of manifest.files) fsyncPath(join(dir, f.path));
  const tmp = join(dir, `${MANIFEST}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  fsyncPath(tmp);
  renameSync(tmp, join(dir, MANIFEST));
  fsyncPath(dir);
  for (const d of new Set(manifest.files.map((f) => dirname(join(dir, f.path))))) fsyncPath(d);
}

export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function readManifest(dir: string): Manifest {
  const path = join(dir, MANIFEST);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new BackupError(`${dir} is not a backup: it has no ${MANIFEST} (an interrupted backup has none)`);
    // Not readable by this user (or the server's, which reads it when one runs): say so, not "no manifest".
    throw new BackupError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BackupError(`${path} is damaged: ${(err as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success)
    throw new BackupError(
      `${path} is not a backup manifest this build reads: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`,
    );
  for (const f of parsed.data.files) {
    // The manifest names files inside the backup, never elsewhere.
    if (
      isAbsolute(f.path) ||
      normalize(f.path).startsWith('..') ||
      !/^(control\.duckdb|tenants\/t_[a-z2-7]{20}\.duckdb)$/.test(f.path)
    ) {
      throw new BackupError(`${path} names an unexpected file ${JSON.stringify(f.path)}`);
    }
  }
  // A tenant's file is its own, and one the checksums cover.
  for (const t of parsed.data.tenants)
    if (t.file !== null && (t.file !== `tenants/${t.id}.duckdb` || !parsed.data.files.some((f) => f.path === t.file)))
      throw new BackupError(`${path} gives tenant ${t.id} the file ${JSON.stringify(t.file)}, which it does not list`);
  return parsed.data;
}

export type Verified = { ok: boolean; manifest: Manifest; files: number; bytes: number; problems: string[] };

/** Checks every listed file is there with its size and checksum; `problems` says what is not. */
export async function verifyBackup(dir: string): Promise<Verified> {
  const manifest = readManifest(dir);
  const problems: string[] = [];
  for (const f of manifest.files) {
    const full = join(dir, f.path);
    if (!existsSync(full)) {
      problems.push(`${f.path}: missing`);
      continue;
    }
    if (!statSync(full).isFile()) {
      problems.push(`${f.path}: not a regular file`);
      continue;
    }
    const found = await describeFile(dir, f.path).catch((err: Error) => err);
    if (found instanceof Error) problems.push(`${f.path}: cannot be read (${found.message})`);
    else if (found.bytes !== f.bytes) problems.push(`${f.path}: ${found.bytes} bytes, the manifest says ${f.bytes}`);
    else if (found.sha256 !== f.sha256) problems.push(`${f.path}: checksum mismatch (the file is damaged)`);
  }
  return {
    ok: problems.length === 0,
    manifest,
    files: manifest.files.length,
    bytes: manifest.files.reduce((n, f) => n + f.bytes, 0),
    problems,
  };
}
