// Two-factor in a real Chromium: a person turns it on from Settings (reading the key shown
// beside the QR code, as one would type it into an app; the test computes the codes with
// otpauth for the server's fixed clock), signs out, and signs in with password and code.
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { Secret, TOTP } from 'otpauth';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN } from './helpers.js';
import { browserSuite, DESKTOP, newPage, PHONE, screenshot, type TestPage } from './browser.js';

const s = browserSuite<{ desktop: TestPage; clock: number; secret: string }>('browser: two-factor sign-in');

s.before.each(async (ctx) => {
  if (ctx.desktop) return;
  ctx.clock = Date.parse('2030-03-04T05:06:00Z');
  ctx.server.ctx.now = () => new Date(ctx.clock);
  await runCommand(ctx.server.ctx, 'setup', { name: ADMIN.organisation, email: ADMIN.email, password: ADMIN.password });
  ctx.desktop = await newPage(ctx.browser, DESKTOP);
});
s.after.each(({ desktop }) => {
  desktop?.errors.splice(0);
});

const code = (secret: string, at: number) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate({ timestamp: at });
const path = (page: Page) => new URL(page.url()).pathname;
const heading = (page: Page) => page.getByRole('heading', { level: 1 });

async function passwordStep(page: Page, url: string) {
  await page.goto(`${url}/login`);
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

s('a person turns two-factor on from Settings with the key shown beside the QR code', async (ctx) => {
  const { page, errors } = ctx.desktop;
  await passwordStep(page, ctx.server.url);
  await page.waitForURL(`${ctx.server.url}/`);
  await page.goto(`${ctx.server.url}/settings`);
  await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Two-factor' }).click();
  await page.waitForURL(`${ctx.server.url}/settings/mfa`);

  const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
  assert.ok(await qr.isVisible());
  assert.ok(
    await qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0),
    'the QR code loads under the CSP',
  );
  ctx.secret = (await page.locator('#totp-secret').innerText()).trim();
  assert.match(ctx.secret, /^[A-Z2-7]{32}$/);
  await screenshot(page, 'mfa-enrol-desktop');

  await page.getByLabel('Code from your app').fill(code(ctx.secret, ctx.clock));
  await page.getByRole('button', { name: 'Turn on two-factor' }).click();
  await page.waitForURL(`${ctx.server.url}/settings/mfa/enable`);
  assert.is(await heading(page).innerText(), 'Your recovery codes');
  assert.is(await page.locator('#recovery-codes li').count(), 10);
  await screenshot(page, 'mfa-recovery-desktop');

  await page.getByRole('link', { name: 'I have saved them, continue' }).click();
  await page.waitForURL(`${ctx.server.url}/settings/mfa`);
  assert.ok(await page.getByText('Recovery codes left').isVisible());
  assert.equal(errors, [], 'console or page errors');
});

s('after signing out, sign-in asks for the code and then lets them in', async (ctx) => {
  const { page, errors } = ctx.desktop;
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${ctx.server.url}/login`);

  ctx.clock += 60_000;
  await passwordStep(page, ctx.server.url);
  await page.waitForURL(/\/login\/mfa/);
  assert.is(await heading(page).innerText(), 'Two-factor sign-in');
  assert.is(await page.locator('header .who').count(), 0, 'not signed in yet');
  await screenshot(page, 'mfa-login-desktop');

  await page.getByLabel('Code from your authenticator app').fill('000000');
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForLoadState('load');
  assert.is(path(page), '/login/mfa');
  assert.ok(await page.getByRole('alert').filter({ hasText: 'that code is not right' }).isVisible());

  await page.getByLabel('Code from your authenticator app').fill(code(ctx.secret, ctx.clock));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${ctx.server.url}/`);
  assert.is(await page.locator('header .who').innerText(), `${ADMIN.email} · super admin`);
  assert.equal(errors, [], 'console or page errors');
});

s('the second step fits a phone', async (ctx) => {
  const phone = await newPage(ctx.browser, PHONE);
  await passwordStep(phone.page, ctx.server.url);
  await phone.page.waitForURL(/\/login\/mfa/);
  const overflow = await phone.page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.is(overflow, 0, 'no sideways scrolling');
  await screenshot(phone.page, 'mfa-login-phone');
  assert.equal(phone.errors, [], 'console or page errors');
  await phone.context.close();
});

s.run();
