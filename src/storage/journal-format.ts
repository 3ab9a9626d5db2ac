// The bytes of a tenant's ingest journal (src/storage/journal.ts): how a record is framed
// (length, CRC32, LSN, body), and reading a directory of segments back at open, where zeros
// end a preallocated segment, a torn last record is dropped and cut, and damage before an
// intact later record refuses the journal.
import { closeSync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/** length (u32) + CRC32 of the rest (u32) + LSN (f64, an integer below 2^53); the body follows. */
const HEADER = 16;
/** A length above this is damage, not a record; `append` refuses a longer one (a huge OTLP request's JSON). */
export const MAX_BODY = 256 * 1024 * 1024;

export type JournalRecord = { lsn: number; body: Buffer };

/** A record damaged before the end of the journal: starting without it would lose acknowledged events. */
export class JournalDamagedError extends Error {
  readonly reason = 'journal damaged';
}

export type Segment = { no: number; path: string; lastLsn: number };

export const segmentName = (no: number) => `${String(no).padStart(10, '0')}.log`;

export function readSegments(dir: string, appliedLsn: number, onTornTail?: (detail: string) => void) {
  const names = readdirSync(dir)
    .filter((n) => /^\d{10}\.log$/.test(n))
    .sort();
  const records: JournalRecord[] = [];
  const segments: Segment[] = [];
  const files = names.map((name) => ({ no: Number(name.slice(0, 10)), path: join(dir, name) }));
  for (const [i, file] of files.entries()) {
    const data = readFileSync(file.path);
    let at = 0;
    while (at < data.length) {
      const record = frameAt(data, at);
      // LSNs only grow: an older one is a stale record left by reusing the segment.
      if (!record || record.lsn <= (records.at(-1)?.lsn ?? 0)) break;
      records.push(record);
      at += HEADER + record.body.length;
    }
    // Zeros are the preallocated rest of the segment: where its records end, not damage.
    if (at < data.length && !zeroFrom(data, at)) {
      // Damage, or a write a crash cut short. Only the end of the last write can be torn, and
      // it was never acknowledged: but an intact record written after it means damage. One
      // at or below the applied mark proves nothing (left by an emptying that did not reach the disk).
      const before = Math.max(appliedLsn, records.at(-1)?.lsn ?? 0);
      const later = files
        .slice(i)
        .some((f, j) => laterRecord(j === 0 ? data : readFileSync(f.path), j === 0 ? at + 1 : 0, before));
      const where = `${file.path} at byte ${at}`;
      if (later)
        throw new JournalDamagedError(
          `the ingest journal is damaged: ${where} is not a valid record, and records follow it. ` +
            `Acknowledged events may be in it; move ${dir} aside to start this tenant without them`,
        );
      let end = data.length;
      while (end > at && data[end - 1] === 0) end--;
      onTornTail?.(`${where}: ${end - at} bytes dropped`);
      // Cut, so that a later start does not find it before newer records.
      const fd = openSync(file.path, 'r+');
      try {
        ftruncateSync(fd, at);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    segments.push({ ...file, lastLsn: records.at(-1)?.lsn ?? 0 });
  }
  return { records, segments };
}

/** The intact record at `at`, or null (short, or its length or CRC wrong). */
function frameAt(data: Buffer, at: number): JournalRecord | null {
  if (data.length - at < HEADER) return null;
  const length = data.readUInt32LE(at);
  if (length > MAX_BODY || at + HEADER + length > data.length) return null;
  if (crc32(data.subarray(at + 8, at + HEADER + length)) !== data.readUInt32LE(at + 4)) return null;
  return { lsn: data.readDoubleLE(at + 8), body: data.subarray(at + HEADER, at + HEADER + length) };
}

/** True if an intact record newer than `lsn` starts anywhere from `from` (a stale one left by a trim is not). */
function laterRecord(data: Buffer, from: number, lsn: number): boolean {
  for (let at = from; at + HEADER <= data.length; at++) {
    if (!(data.readDoubleLE(at + 8) > lsn)) continue; // cheap, before the CRC: zeros and older LSNs
    const record = frameAt(data, at);
    if (record && record.lsn > lsn) return true;
  }
  return false;
}

const ZEROS = Buffer.alloc(64 * 1024);

/** True if every byte from `from` on is zero. */
function zeroFrom(data: Buffer, from: number): boolean {
  for (let at = from; at < data.length; at += ZEROS.length) {
    const end = Math.min(data.length, at + ZEROS.length);
    if (!data.subarray(at, end).equals(ZEROS.subarray(0, end - at))) return false;
  }
  return true;
}

export function frame(lsn: number, body: Buffer): Buffer {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32LE(body.length, 0);
  header.writeDoubleLE(lsn, 8);
  header.writeUInt32LE(crc32(body, crc32(header.subarray(8, HEADER))), 4);
  return header;
}
