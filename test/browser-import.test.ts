// The Import page in a real Chromium: a tenant admin uploads the fixture's .tar.gz through
// the form for a developer, lands on the run's page while it is running, and sees it turn
// finished with its counts without a reload. The server's reader is held at its first chunk
// until the page has shown the run running, so both states are seen whatever the machine's speed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { create as tarCreate } from 'tar';
import * as assert from 'uvu/assert';
import { createArchiveImports } from '../src/import/archive-run.js';
import { getRun } from '../src/import/runs.js';
import { readTranscripts } from '../src/import/transcripts.js';
import type { Reader } from '../src/import/types.js';
import { ADMIN, ingestKey, ROOT, tempDir } from './helpers.js';
import { browserSuite, DESKTOP, newPage, screenshot } from './browser.js';

const s = browserSuite('browser: import');
const EXPECTED = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/claude-home/expected.json'), 'utf8')) as {
  assistant_messages_unique: number;
};

s(
  'upload an archive through the form, watch the run go from running to finished with its counts',
  async ({ server, browser }) => {
    const { tenantId, userId: devId } = await ingestKey(server, ['ingest'], 'dev@acme.test');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held: Reader = async function* (roots, options) {
      await gate;
      yield* readTranscripts(roots, options);
    };
    const ctx = server.ctx;
    await ctx.archives.stop();
    ctx.archives = createArchiveImports({
      tenantFiles: ctx.tenantFiles,
      ingest: ctx.ingest,
      log: ctx.log,
      dataDir: server.dataDir,
      now: () => ctx.now(),
      reader: held,
    });

    const dir = tempDir('am-upload');
    const p = await newPage(browser, DESKTOP);
    try {
      const archive = join(dir.path, 'claude-history.tar.gz');
      await tarCreate({ gzip: true, file: archive, cwd: join(ROOT, 'test/fixtures/claude-home'), portable: true }, [
        '.claude',
      ]);
      const { page } = p;
      await page.goto(`${server.url}/login?next=/import`);
      await page.getByLabel('Email').fill(ADMIN.email);
      await page.getByLabel('Password').fill(ADMIN.password);
      await Promise.all([
        page.waitForURL(`${server.url}/import`),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);

      await page.getByLabel('Whose history').selectOption({ label: 'dev@acme.test' });
      await page.getByLabel('Archive').setInputFiles(archive);
      await Promise.all([
        page.waitForURL(/\/import\/runs\/imp_\w+$/),
        page.getByRole('button', { name: 'Upload and import' }).click(),
      ]);
      const runId = /\/import\/runs\/(imp_\w+)$/.exec(page.url())![1]!;
      const row = page.locator(`#run-${runId}`);
      assert.is(await row.locator('.run-status').innerText(), 'running');
      const marker = await page.evaluate(() => ((window as unknown as { marker: number }).marker = Math.random()));
      await screenshot(page, 'import-running-desktop');

      release();
      // The state is asserted, not the time: the wait (the default) only bounds a page that never updates.
      await page.locator(`#run-${runId}[data-status="finished"]`).waitFor();
      const run = (await getRun(ctx.tenantFiles, tenantId, runId))!;
      assert.is(run.user_id, devId);
      assert.ok(run.stored > EXPECTED.assistant_messages_unique, `stored ${run.stored}`);
      assert.is(await row.locator('.run-stored').innerText(), String(run.stored));
      assert.is(await row.locator('.run-sent').innerText(), String(run.sent));
      assert.match(await row.locator('.run-progress').innerText(), /Read 3 of 3 files/);
      assert.is(
        await page.evaluate(() => (window as unknown as { marker: number }).marker),
        marker,
        'the same page, not reloaded',
      );
      await screenshot(page, 'import-finished-desktop');
      assert.equal(p.errors, [], 'console or page errors');
    } finally {
      release();
      await p.context.close();
      dir.remove();
    }
  },
);

s.run();
