/**
 * The viewer's event history: the viewer server passes /history/api/... through to a collector's
 * HTTP API (serveApi over SQLite in a temp dir): filters, one event with its messages and caption,
 * 400/404 as the collector answers them, 502 when the collector is gone. In headless Chromium
 * (skipped without /usr/bin/chromium) the page lists the events, filters by device, and a click
 * shows the event's messages and caption.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium } from 'playwright-core';

import { serveApi } from '../../src/collect/api.js';
import { SqliteStore } from '../../src/collect/sqlite.js';
import { checkCollectUrl, startViewerServer, type ViewerServer } from '../../src/viewer/server.js';
import { missingTools } from '../tools.js';

describe('viewer event history (collector API)', () => {
  let dir: string;
  let store: SqliteStore;
  let api: http.Server;
  let viewer: ViewerServer;
  const t0 = Date.parse('2026-12-07T07:00:00Z');
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-history-'));
    store = new SqliteStore(path.join(dir, 'h.db'));
    await store.putMany([
      { device: 'cam-a', kind: 'event', event_id: 'e1', seq: 0, time_ms: t0, camera: 'door', score: 4.5, payload: '{"type":"new","seq":0}' },
      { device: 'cam-a', kind: 'event', event_id: 'e1', seq: 1, time_ms: t0 + 1000, camera: 'door', score: 6, payload: '{"type":"end","seq":1}' },
      { device: 'cam-a', kind: 'description', event_id: 'e1', seq: -2, time_ms: t0, camera: null, score: null, payload: '{"caption":"a cyclist on the walkway"}' },
      { device: 'cam-b', kind: 'event', event_id: 'e2', seq: 0, time_ms: t0 + 60_000, camera: 'yard', score: 3.1, payload: '{"type":"new","seq":0}' },
    ]);
    const s = await serveApi(store, 0);
    api = s.server;
    viewer = await startViewerServer({ broker: 'ws://127.0.0.1:9', port: 0, collect: `http://127.0.0.1:${s.port}/` });
  });
  after(async () => {
    await viewer?.close();
    await new Promise((r) => api?.close(r));
    await store?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('passes the event list, one event and the collector\'s errors through', async () => {
    const get = async (p: string) => { const r = await fetch(new URL(p, viewer.url)); return { status: r.status, body: (await r.json()) as Record<string, unknown> }; };
    assert.equal((await get('config.json')).body['history'], true);
    const ids = async (q: string) => ((await get(`history/api/events${q}`)).body['events'] as { id: string }[]).map((e) => e.id);
    assert.deepEqual(await ids(''), ['e2', 'e1']);
    assert.deepEqual(await ids('?device=cam-a'), ['e1']);
    assert.deepEqual(await ids('?camera=yard'), ['e2']);
    assert.deepEqual(await ids('?min_score=5'), ['e1']);
    assert.deepEqual(await ids(`?from=${t0 + 30_000}&to=${t0 + 90_000}`), ['e2']);
    const one = await get('history/api/events/e1');
    assert.equal((one.body['messages'] as unknown[]).length, 2);
    assert.deepEqual(one.body['descriptions'], [{ caption: 'a cyclist on the walkway' }]);
    assert.equal((await get('history/api/events/nope')).status, 404);
    const bad = await get('history/api/events?min_score=high');
    assert.equal(bad.status, 400);
    assert.match(String(bad.body['error']), /min_score/);
    assert.equal((await fetch(new URL('history/api/devices', viewer.url))).status, 404, 'only the event routes pass through');
  });

  it('answers 502 when the collector is gone, and refuses a collector URL that is not http(s)', async () => {
    const v = await startViewerServer({ broker: 'ws://127.0.0.1:9', port: 0, collect: 'http://127.0.0.1:9' });
    try {
      const r = await fetch(new URL('history/api/events', v.url));
      assert.equal(r.status, 502);
      assert.match(((await r.json()) as { error: string }).error, /did not answer/);
    } finally {
      await v.close();
    }
    assert.throws(() => checkCollectUrl('mqtt://x'), /http:\/\/ or https:\/\//);
    assert.throws(() => checkCollectUrl('nope'), /not a URL/);
  });

  it('the page lists, filters and opens events (headless Chromium)', { skip: missingTools('chromium') }, async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(viewer.url);
      await page.waitForSelector('#history-table tbody tr[data-id="e1"]', { timeout: 30_000 });
      assert.equal(await page.isVisible('#history'), true);
      assert.deepEqual(await page.$$eval('#history-table tbody tr', (trs) => trs.map((t) => (t as HTMLElement).dataset['id'])), ['e2', 'e1']);
      await page.fill('#h-device', 'cam-b');
      await page.click('#history-form button[type=submit]');
      await page.waitForFunction(() => document.querySelectorAll('#history-table tbody tr').length === 1 && document.querySelector('#history-table tbody tr')?.getAttribute('data-id') === 'e2', undefined, { timeout: 10_000 });
      await page.fill('#h-device', '');
      await page.click('#history-form button[type=submit]');
      await page.waitForSelector('#history-table tbody tr[data-id="e1"]', { timeout: 10_000 });
      await page.click('#history-table tbody tr[data-id="e1"]');
      await page.waitForFunction(() => (document.querySelector('#history-detail')?.textContent ?? '').includes('a cyclist on the walkway'), undefined, { timeout: 10_000 });
      assert.match(await page.textContent('#history-detail') ?? '', /2 message\(s\): new #0, end #1/);
    } finally {
      await browser.close();
    }
  });
});
