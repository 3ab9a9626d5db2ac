// OTLP/HTTP receiver: POST /v1/metrics, /v1/logs, /v1/traces, as Claude Code's exporters
// send them (OTEL_EXPORTER_OTLP_PROTOCOL=http/json or http/protobuf, gzip or not, chunked
// or not). 200 with an Export*ServiceResponse in the request's content type (rejected
// points in partialSuccess), 400 for undecodable bodies, 413 when too large, 415 for other
// content types or encodings; 403/429/503 from the guard and storage.
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import {
  decodeRequest,
  decompress,
  encodeResponse,
  formatOf,
  OtlpBodyError,
  type Format,
  type Signal,
} from '../../ingest/otlp-decode.js';
import { INGESTERS, refuseTraces, type ExportOutcome } from '../../ingest/otlp.js';
import type { Env } from '../env.js';
import { httpError } from '../errors.js';
import { ingestGuard, storageUnavailable, who } from '../ingest-guard.js';
import { documented } from '../api-doc.js';

const otlp = (signal: Signal) =>
  documented({
    summary: `OTLP/HTTP ${signal}: an Export${signal[0]!.toUpperCase()}${signal.slice(1)}ServiceRequest${signal === 'traces' ? ' (answered, not stored)' : ''}`,
    auth: 'ingest',
    rawBody: {
      media: ['application/json', 'application/x-protobuf'],
      description:
        "as OpenTelemetry's exporters send it, gzip or not (Content-Encoding); answered in the same format, rejected points in partialSuccess",
    },
  });

async function readRequest(c: Context<Env>, signal: Signal): Promise<{ format: Format; req: Record<string, unknown> }> {
  try {
    const format = formatOf(c.req.header('content-type'));
    const raw = new Uint8Array(await c.req.arrayBuffer());
    return { format, req: decodeRequest(signal, format, decompress(raw, c.req.header('content-encoding'))) };
  } catch (err) {
    if (err instanceof OtlpBodyError) throw httpError(err.status, err.message, err.field);
    throw err;
  }
}

function answer(c: Context<Env>, signal: Signal, format: Format, result: ExportOutcome) {
  const { body, contentType } = encodeResponse(signal, format, result.rejected, result.errorMessage);
  return c.body(body, 200, { 'content-type': contentType });
}

export function otlpRoutes(ctx: AppContext) {
  const app = new Hono<Env>();
  for (const signal of ['metrics', 'logs'] as const) {
    app.post(`/${signal}`, otlp(signal), ingestGuard(ctx), async (c) => {
      const { format, req } = await readRequest(c, signal);
      const now = ctx.now();
      let result: ExportOutcome;
      try {
        result = await INGESTERS[signal](ctx, who(c), req, now).catch(storageUnavailable);
      } catch (err) {
        if (err instanceof OtlpBodyError) throw httpError(err.status, err.message, err.field);
        throw err;
      }
      return answer(c, signal, format, result);
    });
  }
  app.post('/traces', otlp('traces'), ingestGuard(ctx), async (c) => {
    const { format, req } = await readRequest(c, 'traces');
    let result: ExportOutcome;
    try {
      result = refuseTraces(req);
    } catch (err) {
      if (err instanceof OtlpBodyError) throw httpError(err.status, err.message, err.field);
      throw err;
    }
    return answer(c, 'traces', format, result);
  });
  return app;
}
