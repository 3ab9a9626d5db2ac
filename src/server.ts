// Starts the appliance: app context (lock, migrations), the HTTP server, and the admin
// socket the CLI talks to. `close()` undoes all of it in reverse order.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { defaultPublicUrl, type Config } from './config.js';
import type { Logger } from './log.js';
import { openAppContext, type AppContext } from './context.js';
import { adminApp, adminSocketPath, listenAdminSocket, type AdminSocket } from './admin/socket.js';
import { createApp } from './web/app.js';
import { attachStreamGateway } from './ingest/ws-gateway.js';

export type RunningServer = { url: string; port: number; ctx: AppContext; close(): Promise<void> };

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const socketPath = adminSocketPath(config.dataDir);
  // Listening on the admin socket from the moment the lock is ours (listenAdminSocket says why).
  const early: { admin?: AdminSocket } = {};
  const ctx = await openAppContext(config, log, {
    adminSocket: socketPath,
    locked: async () => {
      const admin = (early.admin = await listenAdminSocket(socketPath));
      return () => closeServer(admin.server); // (a failed start: before the lock goes)
    },
  });
  const admin = early.admin!;
  let http: Server | null = null;
  try {
    http = createAdaptorServer({ fetch: createApp(ctx).fetch }) as Server;
    http.keepAliveTimeout = 65_000; // longer than common proxies' idle timeout
    const gateway = attachStreamGateway(http, ctx);
    await listen(http, config.port, config.host);
    const port = (http.address() as AddressInfo).port;
    if (!config.publicUrlSet) ctx.publicUrl = defaultPublicUrl(config.host, port);
    admin.serve(adminApp(ctx));
    ctx.listenPort = port;
    ctx.aggregator.start();
    ctx.delivery.start();
    ctx.alerts.start();
    ctx.digests.start();
    ctx.backups.start();
    const sweep = setInterval(() => {
      ctx.auth
        .deleteExpiredSessions()
        .catch((err: unknown) => log.warn('could not delete expired sessions', { error: String(err) }));
    }, 60 * 60_000).unref();
    // Idle tenants' files give their memory back to the budget.
    const idle = setInterval(() => {
      ctx.tenantFiles
        .closeIdle()
        .catch((err: unknown) => log.warn('could not close idle tenant files', { error: String(err) }));
    }, 60_000).unref();
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    log.info('listening', { url, publicUrl: ctx.publicUrl.href, dataDir: config.dataDir, pid: process.pid });
    return {
      url,
      port,
      ctx,
      async close() {
        clearInterval(sweep);
        clearInterval(idle);
        ctx.live.close(); // open dashboards' streams would hold the server open
        await gateway.close();
        // The socket before the lock: closing it removes its file, which a successor may have made anew once the lock is gone.
        await Promise.all([closeServer(http!), closeServer(admin.server)]);
        await ctx.close();
      },
    };
  } catch (err) {
    if (http?.listening) await closeServer(http);
    await closeServer(admin.server);
    await ctx.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new ListenError(`port ${config.port} on ${config.host} is already in use (--port / AGENTMETER_PORT)`);
    if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL')
      throw new ListenError(`cannot listen on host ${config.host}: no such local address (--host / AGENTMETER_HOST)`);
    if ((err as NodeJS.ErrnoException).code === 'ENOTFOUND')
      throw new ListenError(`cannot listen on host ${config.host}: no such host name (--host / AGENTMETER_HOST)`);
    if ((err as NodeJS.ErrnoException).code === 'EAI_AGAIN')
      throw new ListenError(
        `cannot listen on host ${config.host}: its name could not be looked up now (EAI_AGAIN, a DNS failure; try again, or give an address)`,
      );
    throw err;
  }
}

export class ListenError extends Error {}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops accepting, lets requests in flight finish, and cuts what is still open after 5 s. */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), 5000).unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
