// The test's Prometheus text parser ships no types: what it returns (prom2json's shape).
declare module 'parse-prometheus-text-format' {
  type Labels = Record<string, string>;
  export type Family = {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: { labels?: Labels; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[];
  };
  export default function parsePrometheusTextFormat(text: string): Family[];
}
