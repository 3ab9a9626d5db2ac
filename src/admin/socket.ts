// The running server's admin endpoint: a Unix socket in the data directory (mode 0600),
// so only the account that runs the appliance can use it. The CLI sends commands here
// when the server holds the data directory.
import { createHash } from 'node:crypto';
import { chmodSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import type { AppContext } from '../context.js';
import { CommandError, isCommandName, runCommand } from './commands.js';
import { ADMIN_SOCKET, MAX_SOCKET_PATH } from '../storage/datadir.js';
import { privateTempDir } from '../storage/private-dir.js';

/**
 * Unix socket paths are limited to 107 bytes; a deep data directory gets its socket in
 * `<temp dir>/agentmeter-<uid>`, a directory of this account's alone (throws if it is not).
 */
export function adminSocketPath(dataDir: string): string {
  const inDir = join(dataDir, ADMIN_SOCKET);
  if (Buffer.byteLength(inDir) < MAX_SOCKET_PATH) return inDir;
  const name = `${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}.sock`;
  return join(privateTempDir('agentmeter'), name);
}

export function adminApp(ctx: AppContext): Hono {
  const app = new Hono();
  app.post('/admin/run', async (c) => {
    const body = (await c.req.json().catch(() => null)) as { command?: unknown; args?: unknown } | null;
    const name = typeof body?.command === 'string' ? body.command : '';
    if (!isCommandName(name)) return c.json({ error: `unknown command ${JSON.stringify(name)}` }, 400);
    try {
      const args = body?.args && typeof body.args === 'object' ? (body.args as Record<string, unknown>) : {};
      const result = await runCommand(ctx, name, args);
      // Which command, not its arguments (a password, a client secret): the audit log says the rest.
      ctx.log.info('admin command done', { command: name });
      return c.json({ result });
    } catch (err) {
      if (err instanceof CommandError) {
        // What an operator asked that did not happen (a backup onto a full disk) is in the server's log too.
        ctx.log.warn('admin command refused', { command: name, error: err.message });
        return c.json({ error: err.message }, 400);
      }
      ctx.log.error('admin command failed', { command: name, error: String(err) });
      return c.json({ error: `${name} failed: ${(err as Error).message}` }, 500);
    }
  });
  return app;
}

/**
 * Listens on the admin socket as soon as the lock is taken, answering 503 until `serve` is
 * given the app: a process that cannot see this one's pid (in another PID namespace) takes
 * the lock over only if nothing listens there (datadir.ts), so nothing may be missing while
 * the server starts.
 */
export type AdminSocket = { server: Server; serve(app: Hono): void };

export async function listenAdminSocket(path: string): Promise<AdminSocket> {
  rmSync(path, { force: true }); // we hold the data directory's lock, so any socket here is stale
  let app: Hono | null = null;
  const server = createAdaptorServer({
    fetch: (req: Request) =>
      app ? app.fetch(req) : Response.json({ error: 'the server is starting; try again in a moment' }, { status: 503 }),
  }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return { server, serve: (given) => void (app = given) };
}
