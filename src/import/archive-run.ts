// An archive uploaded on the Import page becomes one import run that the server reads in the
// background: extract it into a folder of its own inside the data directory, read the
// transcripts there, send each chunk through importChunk as the person it belongs to, and
// finish the run (failed, with the error, if anything went wrong). The folder always goes.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Logger } from '../log.js';
import type { Ingestor, Who } from '../ingest/ingest.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { ARCHIVE_LIMITS, archiveKind, extractArchive, type ArchiveKind, type ArchiveLimits } from './archive.js';
import { finishRun, importChunk, INTERRUPTED, noteProgress, RunClosedError, startRun, type ImportRun } from './runs.js';
import { readTranscripts } from './transcripts.js';
import type { Reader, Skip } from './types.js';

export class NotAnArchiveError extends Error {}

export type ArchiveJob = {
  who: Who;
  /** The admin who uploaded it. */
  createdBy: string;
  /** A folder from `workDir()`, holding the upload at `archive`; the job owns it from here. */
  dir: string;
  /** The name the file had on the uploader's machine (shown, never used as a path). */
  name: string;
};

export type ArchiveImports = {
  /** A new, empty folder for an upload; `discard` it if the upload fails. */
  workDir(): Promise<string>;
  discard(dir: string): Promise<void>;
  /** Starts the run and reads the archive in the background; NotAnArchiveError (nothing started) if it is none. */
  start(job: ArchiveJob): Promise<ImportRun>;
  /** Interrupts the running jobs (their runs end failed) and waits for them. */
  stop(): Promise<void>;
};

export const UPLOAD_FILE = 'archive';

type Deps = {
  tenantFiles: TenantFiles;
  ingest: Ingestor;
  log: Logger;
  dataDir: string;
  now: () => Date;
  reader?: Reader;
  limits?: ArchiveLimits;
};

/** The folder uploads are unpacked in; what a crash left there is removed at start. */
export const uploadsDir = (dataDir: string) => join(dataDir, 'import-uploads');

export function createArchiveImports(deps: Deps): ArchiveImports {
  const reader = deps.reader ?? readTranscripts;
  const limits = deps.limits ?? ARCHIVE_LIMITS;
  const stopping = new AbortController();
  const running = new Set<Promise<void>>();
  const discard = (dir: string) => rm(dir, { recursive: true, force: true });

  async function read(job: ArchiveJob, run: ImportRun, kind: ArchiveKind): Promise<void> {
    const { who } = job;
    const progress: Record<string, string | number> = {
      archive: kind,
      phase: 'extracting',
      files: 0,
      files_done: 0,
      events: 0,
    };
    const note = () => noteProgress(deps.tenantFiles, who.tenantId, run.id, progress, deps.now());
    try {
      await note();
      const root = join(job.dir, 'projects');
      const extracted = await extractArchive(join(job.dir, UPLOAD_FILE), kind, root, limits, stopping.signal);
      Object.assign(progress, {
        phase: 'reading',
        files: extracted.files,
        other_files: extracted.otherFiles,
        bytes: extracted.bytes,
      });
      if (extracted.skipped.length)
        await importChunk(deps, who, run.id, { events: [], skipped: extracted.skipped }, deps.now());
      await note();
      const done = new Set<string>();
      // Never an empty list: the reader would read this server's own Claude folders.
      for await (const chunk of reader(await transcriptRoots(root), { snapshot: true })) {
        stopping.signal.throwIfAborted();
        const shown = (s: Skip): Skip => ({
          ...s,
          file: s.file === root ? '(the archive)' : s.file.startsWith(root + sep) ? relative(root, s.file) : s.file,
        });
        await importChunk(deps, who, run.id, { events: chunk.events, skipped: chunk.skipped.map(shown) }, deps.now());
        for (const p of chunk.positions) if (p.done) done.add(p.file);
        Object.assign(progress, { files_done: done.size, events: (progress.events as number) + chunk.events.length });
        await note();
      }
      // The upload goes before the run ends: a run shown finished has left nothing behind.
      await discard(job.dir).catch((e: unknown) =>
        deps.log.warn('could not remove an upload', { run: run.id, error: String(e) }),
      );
      await finishRun(deps.tenantFiles, who, run.id, { summary: { ...progress, phase: 'done' } }, deps.now());
    } catch (err) {
      if (err instanceof RunClosedError) return; // rolled back while it ran: nothing more to record
      const error = stopping.signal.aborted ? INTERRUPTED : (err as Error).message || String(err);
      if (!stopping.signal.aborted) deps.log.warn('archive import failed', { run: run.id, error });
      await discard(job.dir).catch(() => undefined);
      await finishRun(
        deps.tenantFiles,
        who,
        run.id,
        { summary: progress, error: error.slice(0, 2000) },
        deps.now(),
      ).catch((e: unknown) =>
        deps.log.error('could not record a failed archive import', { run: run.id, error: String(e) }),
      );
    }
  }

  return {
    async workDir() {
      await mkdir(uploadsDir(deps.dataDir), { recursive: true, mode: 0o700 });
      return mkdtemp(join(uploadsDir(deps.dataDir), 'up-'));
    },
    discard,
    async start(job) {
      const kind = await archiveKind(join(job.dir, UPLOAD_FILE)).catch(() => null);
      if (!kind) {
        await discard(job.dir);
        throw new NotAnArchiveError('file: not a .zip, .tar.gz or .tar archive');
      }
      let run: ImportRun;
      try {
        run = await startRun(
          deps.tenantFiles,
          job.who.tenantId,
          { userId: job.who.userId, createdBy: job.createdBy, source: 'archive', label: job.name.slice(0, 200) },
          deps.now(),
        );
      } catch (err) {
        await discard(job.dir);
        throw err;
      }
      const work = read(job, run, kind)
        .finally(() => discard(job.dir))
        .catch((err: unknown) => deps.log.error('archive import', { run: run.id, error: String(err) }));
      running.add(work);
      void work.finally(() => running.delete(work));
      return run;
    },
    async stop() {
      stopping.abort();
      await Promise.all(running);
    },
  };
}

/**
 * The reader's roots in an extracted archive: the `projects` folders in it (an archive of a
 * `.claude` dir, or of a folder holding one), else the extraction folder itself, which is
 * named `projects` (an archive of a projects folder's contents).
 */
async function transcriptRoots(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 4) return;
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!entry.isDirectory()) continue;
      if (entry.name === 'projects') found.push(join(dir, entry.name));
      else await walk(join(dir, entry.name), depth + 1);
    }
  };
  await walk(root, 0);
  return found.length ? found : [root];
}
