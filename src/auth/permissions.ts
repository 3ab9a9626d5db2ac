// Roles and what each may do: the permission matrix of the TRD seed (001, "Role-Based
// Access Control"), in one place. Entries marked (+) are not in the seed; they name
// actions the seed's roles imply (a manager exports reports and also sees their own
// numbers) or actions the appliance adds (API keys).
import { z } from 'zod';

export const ROLES = ['super_admin', 'tenant_admin', 'manager', 'developer', 'viewer'] as const;
export type Role = (typeof ROLES)[number];
export const roleSchema = z.enum(ROLES);

export const PERMISSIONS = [
  'tenant.manage', // create, list and delete tenants (organisations)
  'user.manage',
  'dashboard.manage',
  'dashboard.view',
  'dashboard.personal',
  'metrics.view_all',
  'metrics.view_team',
  'metrics.view_own',
  'reports.export',
  'reports.view',
  'profile.edit',
  'apikey.create',
  'alerts.manage', // (+) alert rules about the team's data, and every rule of the tenant
  'alerts.own', // (+) alert rules about one's own data
  'alerts.view', // (+) firing alerts
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const MATRIX: Record<Role, readonly (Permission | '*')[]> = {
  super_admin: ['*'],
  tenant_admin: [
    'user.manage',
    'dashboard.manage',
    'metrics.view_all',
    /* (+) */ 'metrics.view_team',
    'metrics.view_own',
    'dashboard.view',
    'dashboard.personal',
    'reports.export',
    'reports.view',
    'profile.edit',
    'apikey.create',
    'alerts.manage',
    'alerts.own',
    'alerts.view',
  ],
  manager: [
    'metrics.view_team',
    'dashboard.view',
    'reports.export',
    /* (+) */ 'metrics.view_own',
    'dashboard.personal',
    'reports.view',
    'profile.edit',
    'apikey.create',
    'alerts.manage',
    'alerts.own',
    'alerts.view',
  ],
  developer: [
    'metrics.view_own',
    'dashboard.personal',
    'profile.edit',
    /* (+) */ 'apikey.create',
    'alerts.own',
    'alerts.view',
  ],
  viewer: ['dashboard.view', 'reports.view', /* (+) */ 'profile.edit', 'alerts.view'],
};

export type Actor = { role: Role; tenantId: string };

export function can(user: Actor, permission: Permission): boolean {
  const granted = MATRIX[user.role];
  return granted.includes('*') || granted.includes(permission);
}

/** Whether `user` may see or act on tenant `tenantId` at all. */
export function canAccessTenant(user: Actor, tenantId: string): boolean {
  return user.tenantId === tenantId || can(user, 'tenant.manage');
}

/** A role may only hand out roles at or below its own. */
export function canGrantRole(user: Actor, role: Role): boolean {
  return can(user, 'user.manage') && ROLES.indexOf(role) >= ROLES.indexOf(user.role);
}

/** Whether `user` may send events (with a key of the ingest scope, or signed in): a role that may hold an ingest key, not a viewer. */
export const maySendEvents = (user: Actor): boolean => can(user, 'apikey.create');

/** Whether events may be stored as `user`'s (an upload of their history): active, and a role that sends events. */
export const mayOwnEvents = (user: Actor & { disabled: boolean }): boolean => !user.disabled && maySendEvents(user);

/** Why a caller whose role may not send events is refused. */
export const SENDS_NO_EVENTS = (role: Role) =>
  `a ${role} sends no events (this key's owner, or you, may not hold an ingest key)`;
