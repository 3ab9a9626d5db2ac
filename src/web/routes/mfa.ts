// Two-factor pages: the second step of a password sign-in (a code, or enrolment when the
// tenant requires it), the person's own two-factor settings, the tenant admin's requirement,
// and a super admin's reset for a lost device. Every change is audited.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import {
  confirmEnrolment,
  disableMfa,
  enrolment,
  mfaStatus,
  provesIdentity,
  regenerateRecoveryCodes,
} from '../../auth/mfa.js';
import { enrolAtLogin, secondStep, verifyAtLogin, type SecondStepResult } from '../../auth/mfa-login.js';
import { mfaRequirement, mfaRequirementSchema, mustUseMfa, setMfaRequirement } from '../../auth/mfa-policy.js';
import { can } from '../../auth/permissions.js';
import { getUser } from '../../auth/users.js';
import { clientIp } from '../client-ip.js';
import { renderPage, signedIn, type SessionIdentity } from '../dashboard-page.js';
import type { Env } from '../env.js';
import { firstIssue } from '../errors.js';
import { clearPendingLoginCookie, pendingLoginToken } from '../pending-login-cookie.js';
import type { Renderer } from '../render.js';
import { safeNext } from '../safe-next.js';
import { setSessionCookie } from '../session-cookie.js';

const codeForm = z.object({ code: z.string().max(64), next: z.string().max(2048).optional() });
const proofForm = z.object({ proof: z.string().min(1, 'type your password or a current code').max(512) });

type Message = { message: string; field?: string };

export function mfaRoutes(ctx: AppContext, render: Renderer) {
  const secure = ctx.publicUrl.protocol === 'https:';

  /** The second step's page for this browser, or back to the password when it has none. */
  const stepPage = async (c: Context<Env>, next: string, error?: Message, status: 200 | 400 | 401 | 429 = 200) => {
    const step = await secondStep(ctx, pendingLoginToken(c));
    if (step.step === 'expired') return c.redirect(`/login?next=${encodeURIComponent(next)}`, 303);
    c.header('cache-control', 'no-store');
    return render(
      c,
      step.step === 'verify' ? 'mfa-login' : 'mfa-enrol-login',
      { next, enrolment: 'enrolment' in step ? step.enrolment : null, error },
      status,
    );
  };

  /** After a code: the session, or the step's page again saying what was wrong. */
  const afterStep = (c: Context<Env>, result: SecondStepResult, next: string) => {
    if (result.outcome === 'expired') return c.redirect(`/login?next=${encodeURIComponent(next)}`, 303);
    if (result.outcome === 'throttled') {
      c.header('retry-after', String(Math.ceil(result.retryAfterMs / 1000)));
      return stepPage(
        c,
        next,
        { message: `Too many wrong codes. Try again in ${Math.ceil(result.retryAfterMs / 60_000)} min.` },
        429,
      );
    }
    if (result.outcome === 'wrong')
      return stepPage(c, next, { message: 'code: that code is not right (or was already used).', field: 'code' }, 401);
    setSessionCookie(ctx.auth, c, result.session.id);
    clearPendingLoginCookie(c, secure);
    if (!result.recoveryCodes) return c.redirect(next, 303);
    c.header('cache-control', 'no-store'); // the codes are shown once
    return render(c, 'mfa-recovery', { codes: result.recoveryCodes, next });
  };

  const settingsPage = async (
    c: Context<Env>,
    identity: SessionIdentity,
    extra: { error?: Message; done?: string } = {},
    status: 200 | 400 | 403 = 200,
  ) => {
    const { user } = identity;
    const [status_, requirement] = await Promise.all([
      mfaStatus(ctx.control, user.id),
      mfaRequirement(ctx.control, user.tenantId),
    ]);
    const enrol = status_.enabled ? null : await enrolment(ctx, user);
    c.header('cache-control', 'no-store'); // the page may show a secret
    return renderPage(
      render,
      c,
      'mfa-settings',
      { identity },
      {
        mfa: status_,
        enrolment: enrol,
        requirement,
        required: mustUseMfa(requirement, user.role),
        done: c.req.query('done'),
        ...extra,
      },
      status,
    );
  };

  const recoveryPage = (c: Context<Env>, identity: SessionIdentity, codes: string[]) => {
    c.header('cache-control', 'no-store');
    return renderPage(render, c, 'mfa-recovery', { identity }, { codes, next: '/settings/mfa' });
  };

  return (
    new Hono<Env>()
      // Anyone whose password was just right (the pending sign-in's cookie says who).
      .get('/login/mfa', (c) => stepPage(c, safeNext(c.req.query('next'))))
      .post('/login/mfa', async (c) => {
        const form = codeForm.safeParse(await c.req.parseBody());
        if (!form.success) return stepPage(c, '/', firstIssue(form.error), 400);
        const next = safeNext(form.data.next);
        return afterStep(
          c,
          await verifyAtLogin(ctx, { token: pendingLoginToken(c), code: form.data.code, ip: clientIp(c) }),
          next,
        );
      })
      .post('/login/mfa/enrol', async (c) => {
        const form = codeForm.safeParse(await c.req.parseBody());
        if (!form.success) return stepPage(c, '/', firstIssue(form.error), 400);
        const next = safeNext(form.data.next);
        return afterStep(
          c,
          await enrolAtLogin(ctx, { token: pendingLoginToken(c), code: form.data.code, ip: clientIp(c) }),
          next,
        );
      })

      // Signed in: one's own two-factor.
      .get('/settings/mfa', async (c) => {
        const identity = await signedIn(ctx, c);
        return identity instanceof Response ? identity : settingsPage(c, identity);
      })
      .post('/settings/mfa/enable', async (c) => {
        const identity = await signedIn(ctx, c);
        if (identity instanceof Response) return identity;
        const form = codeForm.safeParse(await c.req.parseBody());
        const codes = form.success ? await confirmEnrolment(ctx, identity.user.id, form.data.code) : null;
        if (!codes)
          return settingsPage(
            c,
            identity,
            { error: { message: 'code: that code is not right; type the one your app shows now.', field: 'code' } },
            400,
          );
        await audit(ctx.control, {
          actor: 'user',
          action: 'mfa.enrol',
          tenantId: identity.user.tenantId,
          actorUserId: identity.user.id,
          target: identity.user.id,
          ip: clientIp(c),
        });
        return recoveryPage(c, identity, codes);
      })
      .post('/settings/mfa/disable', async (c) => {
        const identity = await signedIn(ctx, c);
        if (identity instanceof Response) return identity;
        const form = proofForm.safeParse(await c.req.parseBody());
        if (!form.success) return settingsPage(c, identity, { error: firstIssue(form.error) }, 400);
        if (!(await provesIdentity(ctx, identity.user.id, form.data.proof)))
          return settingsPage(
            c,
            identity,
            { error: { message: 'proof: that is neither your password nor a current code', field: 'proof' } },
            400,
          );
        if (await disableMfa(ctx.control, identity.user.id)) {
          await audit(ctx.control, {
            actor: 'user',
            action: 'mfa.disable',
            tenantId: identity.user.tenantId,
            actorUserId: identity.user.id,
            target: identity.user.id,
            ip: clientIp(c),
          });
        }
        return c.redirect('/settings/mfa?done=off', 303);
      })
      .post('/settings/mfa/recovery-codes', async (c) => {
        const identity = await signedIn(ctx, c);
        if (identity instanceof Response) return identity;
        const form = proofForm.safeParse(await c.req.parseBody());
        if (!form.success) return settingsPage(c, identity, { error: firstIssue(form.error) }, 400);
        if (!(await mfaStatus(ctx.control, identity.user.id)).enabled)
          return settingsPage(
            c,
            identity,
            { error: { message: 'Two-factor is not on; there are no recovery codes to replace.' } },
            400,
          );
        if (!(await provesIdentity(ctx, identity.user.id, form.data.proof)))
          return settingsPage(
            c,
            identity,
            { error: { message: 'proof: that is neither your password nor a current code', field: 'proof' } },
            400,
          );
        const codes = await regenerateRecoveryCodes(ctx.control, identity.user.id);
        await audit(ctx.control, {
          actor: 'user',
          action: 'mfa.recovery_regenerate',
          tenantId: identity.user.tenantId,
          actorUserId: identity.user.id,
          target: identity.user.id,
          ip: clientIp(c),
        });
        return recoveryPage(c, identity, codes);
      })

      // Tenant admins (user.manage): who in the tenant must use two-factor.
      .post('/settings/mfa/policy', async (c) => {
        const identity = await signedIn(ctx, c);
        if (identity instanceof Response) return identity;
        if (!can(identity.user, 'user.manage'))
          return settingsPage(
            c,
            identity,
            { error: { message: `Your role (${identity.user.role}) cannot change who must use two-factor.` } },
            403,
          );
        const requirement = mfaRequirementSchema.safeParse((await c.req.parseBody()).required_for);
        if (!requirement.success)
          return settingsPage(
            c,
            identity,
            { error: { message: `required_for: ${requirement.error.issues[0]!.message}`, field: 'required_for' } },
            400,
          );
        await setMfaRequirement(ctx.control, identity.user.tenantId, requirement.data);
        await audit(ctx.control, {
          actor: 'user',
          action: 'mfa.policy',
          tenantId: identity.user.tenantId,
          actorUserId: identity.user.id,
          ip: clientIp(c),
          detail: { required_for: requirement.data },
        });
        return c.redirect('/settings/mfa?done=policy', 303);
      })

      // Super admins (tenant.manage): clear a person's two-factor after a lost device.
      .post('/settings/users/:id/mfa-reset', async (c) => {
        const identity = await signedIn(ctx, c);
        if (identity instanceof Response) return identity;
        if (!can(identity.user, 'tenant.manage'))
          return settingsPage(
            c,
            identity,
            {
              error: {
                message: `Your role (${identity.user.role}) cannot reset someone's two-factor; ask a super admin.`,
              },
            },
            403,
          );
        const target = await getUser(ctx.control, c.req.param('id'));
        if (target && (await disableMfa(ctx.control, target.id))) {
          await audit(ctx.control, {
            actor: 'user',
            action: 'mfa.reset',
            tenantId: target.tenantId,
            actorUserId: identity.user.id,
            target: target.id,
            ip: clientIp(c),
            detail: { email: target.email },
          });
        }
        return c.redirect('/settings/users', 303);
      })
  );
}
