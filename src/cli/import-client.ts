// The import API as the CLI calls it: start a run, send chunks, finish. A wrong URL or key
// fails at once with what to fix; an appliance that stops answering mid-run (connection
// refused, 429, 503) is retried with a growing pause, and past that the run stops with its
// state saved, to resume on the next start.
import type { ImportChunk } from '../import/types.js';

export class ImportClientError extends Error {}
/** The run is gone (rolled back, or another appliance): start a new one. */
export class RunGoneError extends ImportClientError {}

export type ChunkAnswer = {
  accepted: number;
  stored: number;
  duplicates: number;
  rejected: { index: number; field: string; message: string }[];
  unknown_models: string[];
};

const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];

export class ApplianceClient {
  constructor(
    readonly url: string,
    readonly key: string,
    readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    try {
      new URL(url);
    } catch {
      throw new ImportClientError(`--url: "${url}" is not a URL (e.g. https://agentmeter.example.com)`);
    }
  }

  async startRun(source: string, host: string, label?: string): Promise<string> {
    const answer = (await this.call('POST', '/api/v1/import/runs', { source, host, label }, false)) as {
      run: { id: string };
    };
    return answer.run.id;
  }

  async sendChunk(run: string, chunk: ImportChunk): Promise<ChunkAnswer> {
    return (await this.call(
      'POST',
      `/api/v1/import/runs/${encodeURIComponent(run)}/events`,
      { events: chunk.events, skipped: chunk.skipped, baseline: chunk.baseline },
      true,
    )) as ChunkAnswer;
  }

  async finishRun(run: string, summary: Record<string, number | string>): Promise<void> {
    await this.call('POST', `/api/v1/import/runs/${encodeURIComponent(run)}/finish`, { summary }, true);
  }

  /** One call; `retry`: connection trouble, 429 and 5xx are tried again (a first contact fails at once). */
  private async call(method: string, path: string, body: unknown, retry: boolean): Promise<unknown> {
    const target = new URL(path, this.url);
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(target, {
          method,
          headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      } catch (err) {
        const reason = (err as { cause?: { code?: string; message?: string } }).cause?.code ?? (err as Error).message;
        if (retry && attempt < RETRY_DELAYS_MS.length) {
          await this.sleep(RETRY_DELAYS_MS[attempt]!);
          continue;
        }
        throw new ImportClientError(
          `could not reach ${this.url} (${reason}); ${retry ? 'progress is saved: run the same command again to resume' : 'check --url'}`,
        );
      }
      const text = await res.text();
      const parsed = (() => {
        try {
          return JSON.parse(text) as { error?: string; field?: string };
        } catch {
          return null;
        }
      })();
      if (res.ok) {
        if (parsed === null)
          throw new ImportClientError(
            `${target.origin} answered ${res.status} without JSON: is --url an agentmeter appliance?`,
          );
        return parsed;
      }
      if ((res.status === 429 || res.status >= 500) && retry && attempt < RETRY_DELAYS_MS.length) {
        const after = Number(res.headers.get('retry-after'));
        await this.sleep(
          Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 60_000) : RETRY_DELAYS_MS[attempt]!,
        );
        continue;
      }
      const message = parsed?.error ?? `${res.status} ${res.statusText}`;
      if (res.status === 401)
        throw new ImportClientError(`the appliance refused the key (401: ${message}); check --key`);
      if (res.status === 403)
        throw new ImportClientError(`the key may not import (403: ${message}); it needs the ingest scope`);
      if (res.status === 404 && parsed === null)
        throw new ImportClientError(`${target.href} is not found: is --url an agentmeter appliance?`);
      if ((res.status === 404 || res.status === 409) && path.includes('/runs/')) throw new RunGoneError(message);
      throw new ImportClientError(
        `the appliance answered ${res.status}: ${message}${parsed?.field ? ` (field ${parsed.field})` : ''}`,
      );
    }
  }
}
