// Managing people in a real Chromium: an admin invites someone on the people page and copies
// the link; the invitee opens it in their own browser, chooses a password and lands signed
// in with the role; the admin deactivates them and their browser is signed out.
import * as assert from 'uvu/assert';
import { ADMIN, setUp } from './helpers.js';
import { browserSuite, DESKTOP, newPage, PHONE, screenshot, type TestPage } from './browser.js';

const s = browserSuite<{ admin: TestPage; invitee: TestPage; link: string }>('browser: invite, accept, deactivate');

s.before.each(async (ctx) => {
  if (ctx.admin) return;
  ctx.admin = await newPage(ctx.browser, DESKTOP);
  ctx.invitee = await newPage(ctx.browser, PHONE);
  // Setup over HTTP, then the admin's browser signs in like a person.
  await setUp(ctx.server);
  const { page } = ctx.admin;
  await page.goto(`${ctx.server.url}/login`);
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await Promise.all([page.waitForURL(`${ctx.server.url}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
});

const noErrors = (...pages: TestPage[]) =>
  assert.equal(
    pages.flatMap((p) => p.errors),
    [],
    'console or page errors',
  );

s('the admin invites a person and gets the link to copy', async (ctx) => {
  const { page } = ctx.admin;
  await page.goto(`${ctx.server.url}/settings/users`);
  const invite = page.locator('form[action="/settings/invites"]');
  await invite.getByLabel('Email').fill('newbie@acme.test');
  await invite.getByLabel('Role').selectOption('manager');
  await Promise.all([page.waitForLoadState('load'), invite.getByRole('button', { name: 'Invite' }).click()]);
  await page.getByText('Send them this link').waitFor();
  ctx.link = await page.getByLabel('Invitation link').inputValue();
  assert.match(ctx.link, /\/invite\/[\w-]{43}$/);
  assert.ok(await page.getByRole('cell', { name: 'newbie@acme.test', exact: true }).isVisible(), 'listed as pending');
  await screenshot(page, 'people-invited-desktop');
  noErrors(ctx.admin);
});

s("a refused person's form: the error names its label and the focus is in the form that was sent", async (ctx) => {
  const { page } = ctx.admin;
  await page.goto(`${ctx.server.url}/settings/users`);
  // The invitation form above it has an Email too: the error is the add form's.
  const add = page.locator('form[action="/settings/users"]');
  await add.getByLabel('Email').fill(ADMIN.email);
  await add.getByLabel('First password').fill('a first password 1');
  await Promise.all([page.waitForLoadState('load'), add.getByRole('button', { name: 'Add' }).click()]);
  await page
    .getByRole('alert')
    .getByText(/^Email: /)
    .waitFor();
  assert.equal(
    await page.evaluate(() => {
      const focused = document.activeElement as HTMLInputElement;
      return [focused.form?.getAttribute('action'), focused.name, focused.getAttribute('aria-invalid')];
    }),
    ['/settings/users', 'email', 'true'],
  );
  noErrors(ctx.admin);
});

s('the invitee opens the link, chooses a password and is signed in as manager', async (ctx) => {
  const { page } = ctx.invitee;
  await page.goto(ctx.link);
  assert.match(await page.locator('main').innerText(), /invited as manager/);
  await page.getByLabel('Your name').fill('Newbie');
  await page.getByLabel(/^Password \(/).fill('tulip lantern harbour');
  await page.getByLabel('Password again').fill('tulip lantern harbour');
  await screenshot(page, 'people-invite-phone');
  await Promise.all([page.waitForURL(`${ctx.server.url}/`), page.getByRole('button', { name: 'Join' }).click()]);
  assert.match(await page.locator('header .who').innerText(), /newbie@acme\.test · manager/);
  noErrors(ctx.invitee);
});

s('the admin deactivates them: their browser is signed out and cannot sign in again', async (ctx) => {
  const { page } = ctx.admin;
  await page.goto(`${ctx.server.url}/settings/users`);
  await Promise.all([
    page.waitForLoadState('load'),
    page.getByRole('button', { name: 'Deactivate newbie@acme.test' }).click(),
  ]);
  await page.getByText('newbie@acme.test is deactivated').waitFor();
  await screenshot(page, 'people-deactivated-desktop');

  const invitee = ctx.invitee.page;
  await invitee.goto(`${ctx.server.url}/settings`);
  assert.is(new URL(invitee.url()).pathname, '/login');
  await invitee.getByLabel('Email').fill('newbie@acme.test');
  await invitee.getByLabel('Password').fill('tulip lantern harbour');
  await Promise.all([invitee.waitForLoadState('load'), invitee.getByRole('button', { name: 'Sign in' }).click()]);
  await invitee.getByText('This account is deactivated').waitFor();
  noErrors(ctx.admin, ctx.invitee);
});

s.run();
