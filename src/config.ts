// Configuration from flags and environment variables (flags win). Invalid settings
// stop the start with one line naming the setting.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseMemoryMb } from './storage/memory.js';
import { isInDataDir } from './storage/datadir.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Config = {
  port: number;
  host: string;
  dataDir: string;
  /** Where people and agents reach the appliance; derived from host and port unless set. */
  publicUrl: URL;
  publicUrlSet: boolean;
  logLevel: LogLevel;
  /** Addresses and CIDR ranges of reverse proxies whose X-Forwarded-For is believed. */
  trustedProxies: string[];
  /** Where email (invitations, reset links) goes out; null: links are shown to copy instead. */
  smtp: { url: string; from: string } | null;
  /** Alert webhooks may go to loopback and private addresses (receivers on the LAN; tests). */
  alertAllowPrivate: boolean;
  /** The bearer token that lets a scraper off this machine read /metrics; null: loopback only. */
  metricsToken: string | null;
  /** Scheduled backups (src/backup/schedule.ts); null: none. */
  backup: { dir: string; everyMs: number; keep: number } | null;
  /** The process's memory budget in MB, shared by every open DuckDB file (src/storage/memory.ts). */
  memoryLimitMb: number;
};

/** Each setting: its flag, its environment variable, its default and how it is checked. */
export const SETTINGS = {
  port: {
    flag: 'port',
    env: 'AGENTMETER_PORT',
    fallback: '8080',
    // Digits only: Number('') and Number(' ') are 0, which would pick a free port as `0` does.
    schema: z
      .string()
      .trim()
      .regex(/^\d+$/, 'must be a port number (0: any free port)')
      .transform(Number)
      .pipe(z.number().int().min(0).max(65535)),
  },
  host: { flag: 'host', env: 'AGENTMETER_HOST', fallback: '127.0.0.1', schema: z.string().min(1) },
  dataDir: { flag: 'data-dir', env: 'AGENTMETER_DATA_DIR', fallback: './data', schema: z.string().min(1) },
  publicUrl: {
    flag: 'public-url',
    env: 'AGENTMETER_PUBLIC_URL',
    fallback: '',
    shown: 'derived from host and port',
    schema: z.string(),
  },
  logLevel: { flag: 'log-level', env: 'AGENTMETER_LOG_LEVEL', fallback: 'info', schema: z.enum(LOG_LEVELS) },
  trustedProxy: {
    flag: 'trusted-proxy',
    env: 'AGENTMETER_TRUSTED_PROXY',
    fallback: '',
    shown: 'none',
    schema: z.string().transform(addressRanges),
  },
  smtpUrl: {
    flag: 'smtp-url',
    env: 'AGENTMETER_SMTP_URL',
    fallback: '',
    shown: 'none (links are shown to copy)',
    secret: true,
    schema: z.string().refine(smtpUrl, 'must be smtp://user:pass@host:port or smtps://…'),
  },
  smtpFrom: {
    flag: 'smtp-from',
    env: 'AGENTMETER_SMTP_FROM',
    fallback: '',
    shown: 'none',
    schema: z.string().trim().max(254),
  },
  alertAllowPrivate: {
    flag: 'alert-allow-private',
    env: 'AGENTMETER_ALERT_ALLOW_PRIVATE',
    fallback: 'false',
    schema: z.enum(['true', 'false']).transform((v) => v === 'true'),
  },
  metricsToken: {
    flag: 'metrics-token',
    env: 'AGENTMETER_METRICS_TOKEN',
    fallback: '',
    shown: 'none (loopback only)',
    secret: true,
    schema: z.string().refine((v) => v === '' || /^\S{16,}$/.test(v), 'must be at least 16 characters, without spaces'),
  },
  backupDir: {
    flag: 'backup-dir',
    env: 'AGENTMETER_BACKUP_DIR',
    fallback: '',
    shown: 'none (no scheduled backups)',
    schema: z.string(),
  },
  backupEvery: {
    flag: 'backup-every',
    env: 'AGENTMETER_BACKUP_EVERY',
    fallback: '24h',
    schema: z.string().transform(duration),
  },
  backupKeep: {
    flag: 'backup-keep',
    env: 'AGENTMETER_BACKUP_KEEP',
    fallback: '7',
    schema: z.coerce.number().int().min(1).max(1000),
  },
  memoryLimit: {
    flag: 'memory-limit',
    env: 'AGENTMETER_MEMORY_LIMIT',
    fallback: '1GB',
    schema: z.string().transform(memorySize),
  },
} as const;

/** `90m`, `6h`, `1d`: at least a minute. */
function duration(raw: string, ctx: z.RefinementCtx<string>): number {
  const match = /^(\d+)(m|h|d)$/.exec(raw.trim());
  const ms = match ? Number(match[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'm' | 'h' | 'd'] : 0;
  if (ms < 60_000)
    ctx.addIssue({ code: 'custom', message: 'must be minutes, hours or days (90m, 6h, 1d), at least 1m' });
  return ms;
}

const MIN_MEMORY_MB = 128;

function memorySize(raw: string, ctx: z.RefinementCtx<string>): number {
  const mb = parseMemoryMb(raw);
  if (mb === null) ctx.addIssue({ code: 'custom', message: 'a size such as 512MB or 2GB' });
  else if (mb < MIN_MEMORY_MB) ctx.addIssue({ code: 'custom', message: `at least ${MIN_MEMORY_MB}MB` });
  return mb ?? 0;
}

function smtpUrl(raw: string): boolean {
  if (raw === '') return true;
  try {
    const url = new URL(raw);
    return (url.protocol === 'smtp:' || url.protocol === 'smtps:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** Comma-separated addresses or CIDR ranges (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`), each checked. */
function addressRanges(raw: string, ctx: z.RefinementCtx<string>): string[] {
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    const bits = family === 6 ? 128 : 32;
    if (!family || rest.length || (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits))) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} is not an IP address or CIDR range` });
    }
  }
  return entries;
}

export class ConfigError extends Error {}

type Flags = Partial<Record<string, string | boolean | undefined>>;

export function loadConfig(flags: Flags, env: NodeJS.ProcessEnv = process.env): Config {
  const read = <K extends keyof typeof SETTINGS>(key: K): z.infer<(typeof SETTINGS)[K]['schema']> => {
    const s = SETTINGS[key];
    const fromFlag = flags[s.flag];
    const raw = typeof fromFlag === 'string' ? fromFlag : (env[s.env] ?? s.fallback);
    const source =
      typeof fromFlag === 'string' ? `--${s.flag}` : env[s.env] !== undefined ? s.env : `default of --${s.flag}`;
    const parsed = s.schema.safeParse(raw);
    if (!parsed.success) {
      const reason = parsed.error.issues[0]?.message ?? 'invalid';
      const value = 'secret' in s ? '(hidden: it may hold a password)' : JSON.stringify(raw);
      throw new ConfigError(`invalid setting ${source}=${value}: ${reason}`);
    }
    return parsed.data as z.infer<(typeof SETTINGS)[K]['schema']>;
  };

  const port = read('port');
  const host = read('host');
  const publicUrlRaw = read('publicUrl');
  return {
    port,
    host,
    dataDir: resolve(read('dataDir')),
    publicUrl: parsePublicUrl(
      publicUrlRaw,
      host,
      port,
      typeof flags['public-url'] === 'string' ? '--public-url' : 'AGENTMETER_PUBLIC_URL',
    ),
    publicUrlSet: publicUrlRaw !== '',
    logLevel: read('logLevel'),
    trustedProxies: read('trustedProxy'),
    smtp: smtpSettings(read('smtpUrl'), read('smtpFrom')),
    alertAllowPrivate: read('alertAllowPrivate'),
    metricsToken: read('metricsToken') || null,
    backup: backupSettings(read('backupDir'), read('backupEvery'), read('backupKeep'), resolve(read('dataDir'))),
    memoryLimitMb: read('memoryLimit'),
  };
}

function backupSettings(dir: string, everyMs: number, keep: number, dataDir: string): Config['backup'] {
  if (dir === '') return null;
  if (isInDataDir(dataDir, dir))
    throw new ConfigError(
      `invalid setting --backup-dir / AGENTMETER_BACKUP_DIR=${JSON.stringify(dir)}: inside the data directory ${dataDir}; backups go outside it (the next start may empty it, and a failed disk would take both)`,
    );
  return { dir: resolve(dir), everyMs, keep };
}

function smtpSettings(url: string, from: string): Config['smtp'] {
  if (url === '') return null;
  if (!/^[^@\s<>]+@[^@\s<>]+$|<[^@\s<>]+@[^@\s<>]+>$/.test(from)) {
    throw new ConfigError(
      'invalid setting --smtp-from / AGENTMETER_SMTP_FROM: an address to send from (agentmeter@example.com) is required with --smtp-url',
    );
  }
  return { url, from };
}

function parsePublicUrl(raw: string, host: string, port: number, source: string): URL {
  if (raw === '') return defaultPublicUrl(host, port);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`invalid setting ${source}=${JSON.stringify(raw)}: not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`invalid setting ${source}=${JSON.stringify(raw)}: must start with http:// or https://`);
  }
  return url;
}

export function defaultPublicUrl(host: string, port: number): URL {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return new URL(`http://${shown}:${port}`);
}
