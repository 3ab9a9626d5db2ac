/** Paths of the ingest endpoints (the seeds' POST /api/metrics/query is a question, not ingestion): they set their own body limit and authenticate by API key. */
export function isIngestPath(path: string): boolean {
  return (
    path.startsWith('/api/v1/hooks/') ||
    path.startsWith('/v1/') ||
    path.startsWith('/api/v1/import/') ||
    (path.startsWith('/api/metrics/') && path !== '/api/metrics/query')
  );
}
