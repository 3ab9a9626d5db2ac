// File uploads too large to hold in memory (the Import page's archives): the multipart body
// is streamed to a file on disk with busboy, under a byte limit (413 naming the file field).
// The general form handling parses whole bodies, so these paths are left out of the form
// size limit and of the CSRF middleware: the form's `_csrf` field, which must come before
// the file, is checked here before a byte of the file is written.
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { Context } from 'hono';
import { CSRF_FIELD } from '../auth/csrf.js';
import type { Env } from './env.js';
import { httpError } from './errors.js';

/** Paths whose bodies are streamed by their handler (see `receiveUpload`). */
export const STREAMED_UPLOADS = new Set(['/import/upload']);

export type Upload = { fields: Record<string, string>; file: { name: string; bytes: number } | null };

/**
 * Streams the request's file field `fileField` to `path`; returns the other fields and the
 * file's name and size. `csrfValid` judges the `_csrf` field (403 when it fails or comes after
 * the file); a file past `maxBytes` is a 413 naming the field; a body that is no form a 415.
 */
export async function receiveUpload(
  c: Context<Env>,
  o: { fileField: string; path: string; maxBytes: number; csrfValid: (token: string | undefined) => boolean },
): Promise<Upload> {
  const tooLarge = () =>
    httpError(413, `${o.fileField}: larger than ${Math.round(o.maxBytes / 1024 ** 2)} MiB`, o.fileField, {
      connection: 'close',
    });
  const type = c.req.header('content-type') ?? '';
  if (!type.includes('multipart/form-data')) throw httpError(415, 'body must be multipart/form-data', 'content-type');
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > o.maxBytes + 1024 ** 2) throw tooLarge(); // the file alone is over; the rest is a few fields
  if (!c.req.raw.body) throw httpError(400, `${o.fileField}: choose a file`, o.fileField);

  const fields: Record<string, string> = {};
  let file: Upload['file'] = null;
  let writing: Promise<void> | null = null;
  let truncated = false;
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': type },
      limits: { fields: 20, fieldSize: 4096, files: 1, fileSize: o.maxBytes, parts: 30 },
    });
  } catch {
    throw httpError(400, 'body: not a readable multipart form', 'body');
  }
  parser.on('field', (name, value) => void (fields[name] = value));
  parser.on('file', (name, stream, info) => {
    stream.on('error', () => undefined); // a destroyed parser errors its file stream; the pipeline below reports it
    if (name !== o.fileField || file) return void stream.resume();
    if (!o.csrfValid(fields[CSRF_FIELD])) {
      stream.resume();
      return void parser.destroy(
        httpError(403, 'missing or invalid CSRF token; reload the page and try again', CSRF_FIELD, {
          connection: 'close',
        }),
      );
    }
    const received = { name: info.filename ?? '', bytes: 0 };
    file = received;
    const count = new Transform({
      transform(chunk: Buffer, _enc, next) {
        received.bytes += chunk.length;
        next(null, chunk);
      },
    });
    stream.on('limit', () => void (truncated = true)); // busboy passes over the rest
    writing = pipeline(stream, count, createWriteStream(o.path, { mode: 0o600 }));
    writing.catch(() => undefined); // reported below, once the body is read
  });
  try {
    await pipeline(Readable.fromWeb(c.req.raw.body as import('node:stream/web').ReadableStream), parser);
    if (writing) await writing;
  } catch (err) {
    if (writing) await (writing as Promise<void>).catch(() => undefined);
    if (err && typeof err === 'object' && 'getResponse' in err) throw err; // our own 403/413
    throw httpError(400, `body: the upload did not arrive whole (${(err as Error).message})`, 'body');
  }
  if (truncated) throw tooLarge();
  if (!file && !o.csrfValid(fields[CSRF_FIELD]))
    throw httpError(403, 'missing or invalid CSRF token; reload the page and try again', CSRF_FIELD);
  return { fields, file };
}
