// Who reads which alerts and who may write which rules: managers and up every rule and team
// rules, a developer their own rules about their own data, a viewer the firing alerts of
// the team's rules without people's figures. Refusals are NotAllowedErrors (auth/scope.ts).
import { can } from '../auth/permissions.js';
import { metricsView, NotAllowedError, scopeFilters, type Caller } from '../auth/scope.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { listRules, type Authored, type RuleBody } from './rules.js';
import { countFiring, type AlertReader } from './store.js';

export function alertReader(caller: Caller): AlertReader {
  const { user } = caller;
  const ruleAuthor = can(user, 'alerts.own');
  if (!ruleAuthor && !can(user, 'alerts.view'))
    throw new NotAllowedError(`your role (${user.role}) may not see alerts`);
  return {
    userId: user.id,
    team: can(user, 'alerts.manage') || !ruleAuthor,
    individuals: metricsView(caller).individuals,
    firingOnly: !ruleAuthor,
  };
}

/** The body as its author may have it: a team rule needs a manager; a rule about one's own data is narrowed to them. */
export function authored(caller: Caller, body: RuleBody, owner = caller.user.id): Omit<Authored, 'createdBy'> {
  const { user } = caller;
  const team = can(user, 'alerts.manage');
  if (body.scope === 'team' && !team)
    throw new NotAllowedError(`scope: your role (${user.role}) may only make rules about your own data`, 'scope');
  if (body.scope !== 'own' && team) return { body, ownUser: null };
  const filters = scopeFilters({ ownUser: owner, individuals: true }, body.filters, body.group_by);
  return { body: { ...body, filters }, ownUser: owner };
}

/** The bell's number: how many alerts `caller` may see are firing (0 for a role that sees no alerts). */
export async function firingFor(tenantFiles: TenantFiles, caller: Caller): Promise<number> {
  if (!can(caller.user, 'alerts.view')) return 0;
  const who = alertReader(caller);
  const file = await tenantFiles.open(caller.user.tenantId);
  return countFiring(file, await listRules(file, who), who);
}
