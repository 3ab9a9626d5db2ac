// First run, sign out and sign in again, in a real Chromium against a real server: the pages
// render, their forms submit, and nothing on them logs an error. The tests run in order and
// share the server, as one person's first afternoon would.
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { ADMIN } from './helpers.js';
import { browserSuite, DESKTOP, newPage, PHONE, screenshot, type TestPage } from './browser.js';

const s = browserSuite<{ desktop: TestPage; phone: TestPage }>('browser: first run and sign-in');

s.before.each(async (ctx) => {
  ctx.desktop ??= await newPage(ctx.browser, DESKTOP);
  ctx.phone ??= await newPage(ctx.browser, PHONE);
});
// uvu runs after.each inside its own error handling, where a throw would hide the test's
// failure, so each test checks its errors itself and this only starts the next one clean.
s.after.each(({ desktop, phone }) => {
  desktop?.errors.splice(0);
  phone?.errors.splice(0);
});

function assertNoErrors(...pages: TestPage[]) {
  assert.equal(
    pages.flatMap((p) => p.errors),
    [],
    'console or page errors',
  );
}

const path = (page: Page) => new URL(page.url()).pathname;
const heading = (page: Page) => page.getByRole('heading', { level: 1 });
const WRONG = 'Email or password is incorrect.';

/** The header's "who" line (email · role) when someone is signed in; '' when not. */
async function signedInAs(page: Page): Promise<string> {
  const who = page.locator('header .who');
  return (await who.count()) ? who.innerText() : '';
}

/** Submits the login form the way a person would; returns the status of the POST. */
async function signIn(page: Page, email: string, password: string): Promise<number> {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  const answer = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/login');
  const loaded = page.waitForEvent('load'); // of the page the form leads to, not this one
  await page.getByRole('button', { name: 'Sign in' }).click();
  const status = (await answer).status();
  await loaded;
  return status;
}

s('a first visit, at any width, lands on the setup page', async ({ server, desktop, phone }) => {
  for (const [{ page }, name] of [
    [desktop, 'setup-desktop'],
    [phone, 'setup-phone'],
  ] as const) {
    await page.goto(`${server.url}/`);
    assert.is(path(page), '/setup', name);
    assert.is(await heading(page).innerText(), 'Welcome to agentmeter');
    assert.ok(await page.getByRole('button', { name: 'Create organisation' }).isVisible());
    assert.is(await signedInAs(page), '', 'nobody is signed in yet');
    await screenshot(page, name);
  }
  assertNoErrors(desktop, phone);
});

s('setup creates the organisation and signs its administrator in', async ({ server, desktop }) => {
  const { page } = desktop;
  await page.getByLabel('Organisation').fill(ADMIN.organisation);
  await page.getByLabel('Your name').fill('Ada Admin');
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password (10 characters or more)').fill(ADMIN.password);
  await page.getByLabel('Password again').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create organisation' }).click();
  await page.waitForURL(`${server.url}/`);

  // What the home page shows is the dashboards' business; who is signed in is the header's.
  assert.is(await signedInAs(page), `${ADMIN.email} · super admin`);
  assert.ok(await heading(page).isVisible(), 'the home page has its heading');
  assert.ok(await page.getByRole('button', { name: 'Sign out' }).isVisible());
  await screenshot(page, 'home-desktop');

  // Setup happens once: the page now sends people to sign in.
  await page.goto(`${server.url}/setup`);
  assert.is(path(page), '/', 'signed in, so /login forwards home');
  assertNoErrors(desktop);
});

s('"Sign out" in the header signs out', async ({ server, desktop }) => {
  const { page } = desktop;
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${server.url}/login`);
  assert.is(await heading(page).innerText(), 'Sign in');
  assert.is(await signedInAs(page), '');

  await page.goto(`${server.url}/`);
  assert.is(path(page), '/login', 'the session is gone, not only the button');
  await screenshot(page, 'login-desktop');
  assertNoErrors(desktop);
});

s('a wrong password is refused with a message, at both widths', async ({ server, desktop, phone }) => {
  for (const [{ page }, name] of [
    [desktop, 'login-error-desktop'],
    [phone, 'login-error-phone'],
  ] as const) {
    await page.goto(`${server.url}/login`);
    if (name.endsWith('phone')) await screenshot(page, 'login-phone');
    assert.is(await signIn(page, ADMIN.email, 'not the password at all'), 401, name);
    assert.is(path(page), '/login', name);
    assert.ok(await page.getByRole('alert').filter({ hasText: WRONG }).isVisible(), `${name}: the error is shown`);
    assert.is(await signedInAs(page), '');
    assert.is(await page.getByLabel('Email').inputValue(), ADMIN.email, 'the email is kept');
    assert.is(await page.getByLabel('Password').inputValue(), '', 'the password is not echoed back');
    await screenshot(page, name);
  }
  assertNoErrors(desktop, phone);
});

s('the same credentials sign in again, on a phone too', async ({ server, desktop, phone }) => {
  for (const [{ page }, name] of [
    [desktop, 'desktop'],
    [phone, 'phone'],
  ] as const) {
    await page.goto(`${server.url}/login`);
    assert.is(await signIn(page, ADMIN.email, ADMIN.password), 303, name);
    assert.is(path(page), '/', name);
    assert.is(await signedInAs(page), `${ADMIN.email} · super admin`, name);
    assert.is(await page.getByText(WRONG).count(), 0, 'the earlier error is gone');
    // On a phone it is in the menu.
    if (name === 'phone') await page.getByRole('button', { name: 'Menu' }).click();
    assert.ok(await page.getByRole('button', { name: 'Sign out' }).isVisible(), `${name}: sign out is reachable`);
  }
  await screenshot(phone.page, 'home-phone');
  assertNoErrors(desktop, phone);
});

s.run();
