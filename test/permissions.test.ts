import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { can, canAccessTenant, canGrantRole, MATRIX, PERMISSIONS, type ROLES } from '../src/auth/permissions.js';
import { loadConfig } from '../src/config.js';

const as = (role: (typeof ROLES)[number]) => ({ role, tenantId: 't_aaaaaaaaaaaaaaaaaaaa' });

test("the TRD seed's matrix holds", () => {
  const seed: Record<string, string[]> = {
    tenant_admin: ['user.manage', 'dashboard.manage', 'metrics.view_all'],
    manager: ['metrics.view_team', 'dashboard.view', 'reports.export'],
    developer: ['metrics.view_own', 'dashboard.personal', 'profile.edit'],
    viewer: ['dashboard.view', 'reports.view'],
  };
  for (const [role, perms] of Object.entries(seed))
    for (const p of perms) assert.ok(can(as(role as 'viewer'), p as 'reports.view'), `${role} ${p}`);
  for (const p of PERMISSIONS) assert.ok(can(as('super_admin'), p), `super_admin ${p}`);
  assert.equal(MATRIX.super_admin, ['*']);
});

test('what each role may not do', () => {
  assert.not.ok(can(as('developer'), 'metrics.view_team'));
  assert.not.ok(can(as('developer'), 'user.manage'));
  assert.not.ok(can(as('viewer'), 'apikey.create'));
  assert.not.ok(can(as('manager'), 'user.manage'));
  assert.not.ok(can(as('tenant_admin'), 'tenant.manage'));
  assert.not.ok(canAccessTenant(as('tenant_admin'), 't_bbbbbbbbbbbbbbbbbbbb'));
  assert.ok(canAccessTenant(as('super_admin'), 't_bbbbbbbbbbbbbbbbbbbb'));
  assert.ok(canGrantRole(as('tenant_admin'), 'manager'));
  assert.not.ok(canGrantRole(as('tenant_admin'), 'super_admin'));
  assert.not.ok(canGrantRole(as('manager'), 'viewer'));
});

test('configuration: defaults, environment, flags over environment', () => {
  const d = loadConfig({}, {});
  assert.is(d.port, 8080);
  assert.is(d.host, '127.0.0.1');
  assert.ok(d.dataDir.endsWith('/data'));
  assert.is(d.publicUrl.href, 'http://127.0.0.1:8080/');
  assert.is(d.logLevel, 'info');
  const e = loadConfig(
    { port: '9000' },
    { AGENTMETER_PORT: '7000', AGENTMETER_HOST: '0.0.0.0', AGENTMETER_PUBLIC_URL: 'https://m.example.test/' },
  );
  assert.is(e.port, 9000);
  assert.is(e.host, '0.0.0.0');
  assert.is(e.publicUrl.protocol, 'https:');
  assert.is(loadConfig({}, { AGENTMETER_HOST: '0.0.0.0' }).publicUrl.href, 'http://localhost:8080/');
  assert.throws(() => loadConfig({ port: '-1' }, {}), /invalid setting --port="-1"/);
  assert.throws(
    () => loadConfig({}, { AGENTMETER_PUBLIC_URL: 'ftp://x' }),
    /AGENTMETER_PUBLIC_URL.*http:\/\/ or https:\/\//,
  );
});

test.run();
