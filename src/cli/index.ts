// The command line: `serve` (the default) or an admin command. Admin commands run
// against the data directory directly, or through the running server when it holds it.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MANIFEST, notCopied } from '../backup/manifest.js';
import type { BackupResult } from '../backup/backup.js';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, SETTINGS, type Config } from '../config.js';
import { createLogger } from '../log.js';
import { openAppContext } from '../context.js';
import {
  COMMANDS,
  CommandError,
  isCommandName,
  parseCommand,
  runCommand,
  type CommandName,
} from '../admin/commands.js';
import { adminSocketOf, controlPath, DataDirLockedError, readLiveLock } from '../storage/datadir.js';
import { MigrationError } from '../storage/migrate.js';
import { runRemote, RemoteCommandError } from './client.js';
import { ListenError, startServer } from '../server.js';
import { ImportClientError, importMain } from './import.js';
import { versionLine, versions } from './version.js';
import { incompleteBackup, isLocalBackupCommand, runLocalBackup } from './backup.js';

const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  'password-stdin': { type: 'boolean' },
  name: { type: 'string' },
  tenant: { type: 'string' },
  email: { type: 'string' },
  role: { type: 'string' },
  user: { type: 'string' },
  scopes: { type: 'string' },
  id: { type: 'string' },
  type: { type: 'string' },
  issuer: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret-stdin': { type: 'boolean' },
  'allowed-domains': { type: 'string' },
  'default-role': { type: 'string' },
  'role-map': { type: 'string' },
  'groups-claim': { type: 'string' },
  metadata: { type: 'string' },
  'github-oauth-url': { type: 'string' },
  'github-api-url': { type: 'string' },
  slug: { type: 'string' },
  'require-sso': { type: 'string' },
  to: { type: 'string' },
  from: { type: 'string' },
  person: { type: 'string' },
  action: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
  page: { type: 'string' },
  ...Object.fromEntries(Object.values(SETTINGS).map((s) => [s.flag, { type: 'string' }])),
} as const;

const USAGE = `usage: agentmeter [command] [options]

commands:
  serve                                              start the appliance (default)
  setup --name <org> --email <email>                 first organisation and its super_admin
  tenant create --name <name>
  tenant list
  tenant delete --tenant <id|name>                   also deletes the tenant's data file
  user create --tenant <id|name> --email <email> --role <role> [--name <name>]
  user list --tenant <id|name>
  user mfa-reset --tenant <id|name> --email <email>  clear a person's two-factor (a lost device)
  user erase --tenant <id|name> --email <email|id>       delete a person's data and anonymise their account
  user disable|enable|delete --tenant <id|name> --email <email>   deactivate (signed out, keys refused), reactivate, delete
  user role --tenant <id|name> --email <email> --role <role>
  user reset-link --tenant <id|name> --email <email>  prints a single-use password reset link (1 hour)
  apikey create --tenant <id|name> --user <email|id> --scopes ingest,read [--name <label>]
  apikey list --tenant <id|name>
  audit list [--tenant <id|name>] [--person <email>] [--action <name or prefix>] [--since <date|time>] [--until <date|time>] [--limit <1-1000>] [--page <n>]
  apikey revoke --tenant <id|name> --id <key id>
  apikey rotate --tenant <id|name> --id <key id>       a new secret for the key (printed once); the old one is refused at once
  sso set --tenant <id|name> --type oidc|google|entra|okta|github|saml [--issuer <url>] --client-id <id> --client-secret-stdin
          [--name <button name>] [--default-role developer] [--allowed-domains a.example,b.example] [--role-map group=role,…]
          [--groups-claim groups] [--github-oauth-url <url> --github-api-url <url>] [--metadata <url|file>]
  sso list --tenant <id|name>
  sso remove --tenant <id|name> --id <provider id>
  sso tenant --tenant <id|name> [--slug <slug>] [--require-sso on|off]
  backup --to <dir>                                  copy the control database and every tenant into <dir> (new or empty), server running or not; exit 2 if a tenant could not be copied
  backup verify --from <dir>                         check a backup's files against its manifest (sizes, SHA-256); exit 1 if damaged, 2 if incomplete
  restore --from <dir> --data-dir <new dir>          a verified backup into a new or empty data directory
  tenant export --tenant <id|name> --to <dir>        one tenant's data, people and API keys, to move it to another appliance
  tenant import --from <dir>                         create a tenant exported elsewhere (refused if its id, name or emails exist)
  import claude|legacy [DIR…] --url <URL> --key <key>  upload this machine's transcripts or old metrics (import --help)
  sync --url <URL> --key <key>                       upload what is new since the last sync
  version (or --version)                             the app's, Node's and DuckDB's versions

options:
  --json              machine-readable output (errors too, on stderr)
  --password-stdin    read the new user's password from standard input (else one is generated and printed)
${Object.values(SETTINGS)
  .map((s) => `  --${s.flag.padEnd(20)} ${s.env}, default ${'shown' in s ? s.shown : s.fallback}`)
  .join('\n')}
roles: super_admin, tenant_admin, manager, developer, viewer`;

export async function main(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    if (argv[0] === 'import' || argv[0] === 'sync') return await importMain(argv);
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    json = values.json === true;
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const name = values.version ? 'version' : positionals.join(' ') || 'serve';
    // Before the settings: it touches no data directory, so none of them can stop it.
    if (name === 'version') {
      const v = await versions();
      process.stdout.write(json ? `${JSON.stringify(v, null, 2)}\n` : `${versionLine(v)}\n`);
      return 0;
    }
    const config = loadConfig(values);
    // What the appliance writes (DuckDB files and their WAL, journals, sockets, backups, exports)
    // is its user's alone, also in a data directory made beforehand with 0755 (a Docker volume):
    // the shipped systemd unit says UMask=0077, npm start and docker run say nothing.
    process.umask(0o077);
    if (name === 'serve') return await serve(config);
    // Paths mean what they mean where the operator typed them, not where the server runs.
    for (const flag of ['to', 'from'] as const) if (values[flag] !== undefined) values[flag] = resolve(values[flag]);
    if (isLocalBackupCommand(name)) {
      const { ok, result, notCopied } = await runLocalBackup(name, values.from, config.dataDir);
      process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : `${human(result)}\n`);
      if (!ok) return 1;
      // A restore of an incomplete backup succeeded: what it lacked stays unavailable, said on stderr.
      const left = incompleteBackup(`the backup ${values.from}`, notCopied, json);
      return name === 'restore' ? 0 : left;
    }
    if (!isCommandName(name)) throw new CommandError(`unknown command "${name}"; run with --help for the list`);

    const args: Record<string, unknown> = Object.fromEntries(
      Object.entries(values)
        .filter(
          ([k, v]) =>
            v !== undefined &&
            !(k in SETTINGS_FLAGS) &&
            k !== 'json' &&
            k !== 'password-stdin' &&
            k !== 'client-secret-stdin',
        )
        .map(([k, v]) => [k.replace(/-/g, '_'), v]),
    );
    if (values['password-stdin']) args.password = (await readStdin()).replace(/\r?\n$/, '');
    if (values['client-secret-stdin']) args.client_secret = (await readStdin()).replace(/\r?\n$/, '');
    // A metadata file is read here, where the operator's path means something; a URL is fetched by the command.
    if (typeof args.metadata === 'string' && /^https?:\/\//.test(args.metadata))
      [args.metadata_url, args.metadata] = [args.metadata, undefined];
    else if (typeof args.metadata === 'string') args.metadata = readMetadataFile(args.metadata);
    const result = await runAdmin(config, name, args);
    process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : `${human(result)}\n`);
    return name === 'backup'
      ? incompleteBackup(`the backup written to ${args.to}`, notCopied(result as BackupResult), json)
      : 0;
  } catch (err) {
    const expected =
      err instanceof CommandError ||
      err instanceof RemoteCommandError ||
      err instanceof ImportClientError ||
      err instanceof ConfigError ||
      err instanceof DataDirLockedError ||
      err instanceof MigrationError ||
      err instanceof ListenError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    // The file system refusing the data directory (its owner, a file in its place, a full disk) is
    // an operator's to fix: one line naming the path, not a stack.
    const refused =
      FILE_SYSTEM_ERRORS.includes((err as NodeJS.ErrnoException).code ?? '') ||
      /^IO Error: /.test((err as Error).message ?? ''); // DuckDB's, opening a file (no code, the path named)
    const message = !(expected || refused)
      ? `unexpected error: ${(err as Error).stack ?? String(err)}`
      : /Conflicting lock is held/.test((err as Error).message)
        ? `${(err as Error).message}; another process has this data directory's files open (an agentmeter server, in a container perhaps, whose admin socket this command could not reach): stop it, or run the command where it runs`
        : (err as Error).message;
    process.stderr.write(json ? `${JSON.stringify({ error: message })}\n` : `agentmeter: ${message}\n`);
    return 1;
  }
}

/** The commands that may start an appliance in an empty data directory. */
const MAKES_AN_APPLIANCE: CommandName[] = ['setup', 'tenant import'];

/** Throws unless `dataDir` holds an appliance this user may open, saying which it is. */
function checkAppliance(dataDir: string): void {
  try {
    statSync(controlPath(dataDir));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new CommandError(
        `--data-dir: ${dataDir} holds no appliance (no control.duckdb); check the path, or run setup or serve there first`,
      );
    throw new CommandError(
      `--data-dir: cannot read ${dataDir} (${code}): run the command as the user the server runs as (sudo -u agentmeter …)`,
    );
  }
}

const FILE_SYSTEM_ERRORS = ['EACCES', 'EPERM', 'ENOTDIR', 'EISDIR', 'EROFS', 'ENOSPC', 'EEXIST'];

const SETTINGS_FLAGS = Object.fromEntries(Object.values(SETTINGS).map((s) => [s.flag, true]));

async function runAdmin(config: Config, name: CommandName, args: Record<string, unknown>): Promise<unknown> {
  const held = await readLiveLock(config.dataDir);
  const socket = held && adminSocketOf(held, config.dataDir);
  if (socket) return asked(socket, name, args);
  parseCommand(name, args); // a mistyped flag is named before anything else
  // A mistyped --data-dir would otherwise become a new, empty appliance (and, for one, empty backups).
  if (!MAKES_AN_APPLIANCE.includes(name)) checkAppliance(config.dataDir);
  let ctx;
  try {
    ctx = await openAppContext(
      config,
      createLogger('warn', (l) => process.stderr.write(l)),
      { adminSocket: null },
    );
  } catch (err) {
    // The server took the directory between our look and our open.
    const socket = err instanceof DataDirLockedError && adminSocketOf(err.holder, config.dataDir);
    if (socket) return asked(socket, name, args);
    throw err;
  }
  let result: unknown;
  try {
    result = await runCommand(ctx, name, args);
  } catch (err) {
    await ctx.close().catch(() => undefined); // the command's own error is the one to report
    throw err;
  }
  // Done and committed (DuckDB's write-ahead log holds it): its result, which may be a password
  // shown once, is printed even when closing fails, as a full disk makes the last checkpoint fail.
  await ctx.close().catch((err: unknown) => {
    process.stderr.write(
      `agentmeter: warning: ${name} was done, but closing the data directory failed (${(err as Error).message}); what it wrote is in DuckDB's write-ahead log and is applied at the next start\n`,
    );
  });
  return result;
}

/** The commands whose server writes a directory at `--to`, a manifest last. */
const WRITES_TO: CommandName[] = ['backup', 'tenant export'];

/** Where a running server's file system and this shell's differ (systemd's PrivateTmp=, ProtectSystem=strict). */
const SERVER_VIEW =
  'the server writes it itself, as its user and with its own view of the file system (under systemd: only its own directories, and a /tmp of its own): choose a directory both see that the server may write, such as /var/lib/agentmeter-backups (README, *systemd*)';

/**
 * The command, asked of the running server. What it writes to `--to` (a backup, an export)
 * must be where this shell sees it: a server with a /tmp of its own answers that it wrote
 * a directory that is not there for the operator.
 */
async function asked(socket: string, name: CommandName, args: Record<string, unknown>): Promise<unknown> {
  let result: unknown;
  try {
    result = await runRemote(socket, name, args);
  } catch (err) {
    if (err instanceof RemoteCommandError && /\((EROFS|EACCES|EPERM)\)/.test(err.message))
      throw new RemoteCommandError(`${err.message}; ${SERVER_VIEW}`);
    throw err;
  }
  if (WRITES_TO.includes(name) && typeof args.to === 'string' && !existsSync(join(args.to, MANIFEST)))
    throw new CommandError(
      `--to: the server wrote ${args.to}, but it is not there as this shell sees it; ${SERVER_VIEW}`,
    );
  return result;
}

async function serve(config: Config): Promise<number> {
  const log = createLogger(config.logLevel);
  // A stray rejection is a bug to log, not a reason to drop every request in flight.
  process.on('unhandledRejection', (reason) =>
    log.error('unhandled rejection', { error: reason instanceof Error ? reason.stack : String(reason) }),
  );
  const server = await startServer(config, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info('stopping', { signal });
      server.close().then(resolve, (err) => {
        log.error('error while stopping', { error: String(err) });
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}

function readMetadataFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CommandError(
      `--metadata: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c: string) => (data += c));
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}

/** Plain text for people: one line per record, `key: value` pairs. */
function human(result: unknown): string {
  const line = (o: unknown) =>
    o && typeof o === 'object'
      ? Object.entries(o)
          .map(
            ([k, v]) =>
              `${k}: ${v instanceof Date ? v.toISOString() : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`,
          )
          .join('  ')
      : String(o);
  if (Array.isArray(result)) return result.length ? result.map(line).join('\n') : '(none)';
  return line(result);
}

export { COMMANDS };
