// The Import page: import runs (a tenant admin's: everyone's; others': their own) with what
// each counted, a confirmed rollback per run, how to import from a developer's machine, and
// for tenant admins an upload of an archive of someone's Claude history, read by the server
// while its row shows the progress (src/import/archive-run.ts).
import { join } from 'node:path';
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import { csrfValid } from '../../auth/csrf.js';
import { can, mayOwnEvents } from '../../auth/permissions.js';
import { getUser, listUsers } from '../../auth/users.js';
import { ARCHIVE_LIMITS } from '../../import/archive.js';
import { NotAnArchiveError, UPLOAD_FILE } from '../../import/archive-run.js';
import { RUN_KEPT_MS } from '../../aggregate/steps.js';
import { getRun, listRuns, rollbackRun, runEventCount, type ImportRun } from '../../import/runs.js';
import type { Env } from '../env.js';
import { httpError } from '../errors.js';
import { renderPage, signedIn, type SessionIdentity } from '../dashboard-page.js';
import type { Renderer } from '../render.js';
import { clientIp } from '../client-ip.js';
import { receiveUpload } from '../upload.js';

export function importPageRoutes(ctx: AppContext, render: Renderer) {
  const publicUrl = () => ctx.publicUrl.href.replace(/\/$/, '');

  /** A signed-in person who may import (has keys to send with); a viewer gets a 403 page. */
  const importer = async (c: Context<Env>): Promise<SessionIdentity | Response> => {
    const identity = await signedIn(ctx, c);
    if (identity instanceof Response) return identity;
    if (!can(identity.user, 'apikey.create'))
      return renderPage(
        render,
        c,
        'error',
        { identity },
        { status: 403, message: `Your role (${identity.user.role}) cannot import history.` },
        403,
      );
    return identity;
  };
  const everyone = (identity: SessionIdentity) => can(identity.user, 'user.manage');

  /** The run, if this person may see it: their own, or any of the tenant's for an admin. */
  const visibleRun = async (identity: SessionIdentity, id: string): Promise<ImportRun> => {
    const run = await getRun(ctx.tenantFiles, identity.user.tenantId, id);
    if (!run || (run.user_id !== identity.user.id && !everyone(identity)))
      throw httpError(404, 'There is no such import run.');
    return run;
  };

  const people = async (identity: SessionIdentity) => {
    const users = await listUsers(ctx.control, identity.user.tenantId);
    return { users: users.filter(mayOwnEvents), emails: new Map(users.map((u) => [u.id, u.email])) };
  };

  const page = async (
    c: Context<Env>,
    identity: SessionIdentity,
    extra: { error?: { message: string; field?: string }; done?: string } = {},
    status: 200 | 400 | 403 = 200,
  ) => {
    const [runs, { users, emails }] = await Promise.all([
      listRuns(ctx.tenantFiles, identity.user.tenantId, everyone(identity) ? null : identity.user.id),
      people(identity),
    ]);
    return renderPage(
      render,
      c,
      'import',
      { identity },
      {
        runs,
        users,
        emails,
        everyone: everyone(identity),
        publicUrl: publicUrl(),
        maxUpload: ARCHIVE_LIMITS.uploadBytes,
        ...extra,
      },
      status,
    );
  };

  return (
    new Hono<Env>()
      .get('/import', async (c) => {
        const identity = await importer(c);
        if (identity instanceof Response) return identity;
        const rolledBack = c.req.query('rolled_back');
        return page(c, identity, { done: rolledBack ? `Rolled back: ${rolledBack} events removed.` : undefined });
      })
      .get('/import/runs/:id', async (c) => {
        const identity = await importer(c);
        if (identity instanceof Response) return identity;
        const run = await visibleRun(identity, c.req.param('id'));
        return renderPage(render, c, 'import-run', { identity }, { run, emails: (await people(identity)).emails });
      })
      // The run's rows alone: what its page polls while the run is running.
      .get('/import/runs/:id/row', async (c) => {
        const identity = await importer(c);
        if (identity instanceof Response) return identity;
        const run = await visibleRun(identity, c.req.param('id'));
        return renderPage(
          render,
          c,
          'partials/import-run',
          { identity },
          { run, emails: (await people(identity)).emails },
        );
      })
      .get('/import/runs/:id/rollback', async (c) => {
        const identity = await importer(c);
        if (identity instanceof Response) return identity;
        const run = await visibleRun(identity, c.req.param('id'));
        const events = await runEventCount(ctx.tenantFiles, identity.user.tenantId, run.id);
        return renderPage(
          render,
          c,
          'import-rollback',
          { identity },
          { run, events, keptDays: RUN_KEPT_MS / 86_400_000, emails: (await people(identity)).emails },
        );
      })
      .post('/import/runs/:id/rollback', async (c) => {
        const identity = await importer(c);
        if (identity instanceof Response) return identity;
        const run = await visibleRun(identity, c.req.param('id'));
        const done = await rollbackRun(ctx, identity.user.tenantId, run.id, ctx.now());
        await audit(ctx.control, {
          actor: 'user',
          actorUserId: identity.user.id,
          tenantId: identity.user.tenantId,
          action: 'import.rollback',
          target: run.id,
          ip: clientIp(c),
          detail: { removed: done.removed },
        });
        return c.redirect(`/import?rolled_back=${done.removed}`, 303);
      })
      .post('/import/upload', async (c) => {
        const identity = await importer(c);
        if (identity instanceof Response) return identity;
        if (!everyone(identity))
          throw httpError(
            403,
            `Your role (${identity.user.role}) cannot upload someone's history; use the command line below.`,
          );
        const dir = await ctx.archives.workDir();
        let upload;
        try {
          upload = await receiveUpload(c, {
            fileField: 'file',
            path: join(dir, UPLOAD_FILE),
            maxBytes: ARCHIVE_LIMITS.uploadBytes,
            csrfValid: (t) => csrfValid(ctx.secret, identity.session.id, t),
          });
          if (!upload.file || upload.file.bytes === 0)
            throw httpError(400, 'file: choose a .zip or .tar.gz file', 'file');
        } catch (err) {
          await ctx.archives.discard(dir);
          throw err;
        }
        const person = await getUser(ctx.control, upload.fields.user ?? '');
        if (!person || person.tenantId !== identity.user.tenantId || !mayOwnEvents(person)) {
          await ctx.archives.discard(dir);
          // As ingest refuses them: a viewer sends no events, a deactivated person none any more.
          throw httpError(
            400,
            'user: choose an active person of your organisation who sends events (not a viewer)',
            'user',
          );
        }
        try {
          const run = await ctx.archives.start({
            who: { tenantId: person.tenantId, userId: person.id },
            createdBy: identity.user.id,
            dir,
            name: upload.file.name,
          });
          await audit(ctx.control, {
            actor: 'user',
            actorUserId: identity.user.id,
            tenantId: person.tenantId,
            action: 'import.start',
            target: run.id,
            ip: clientIp(c),
            detail: { source: 'archive', user: person.id, file: upload.file.name, bytes: upload.file.bytes },
          });
          return c.redirect(`/import/runs/${run.id}`, 303);
        } catch (err) {
          if (err instanceof NotAnArchiveError) throw httpError(400, err.message, 'file');
          throw err;
        }
      })
  );
}
