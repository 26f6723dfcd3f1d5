/**
 * End to end in real headless Chromium: `sfn-edge run` flags an anomaly in Ped2 test video 01 and
 * records its clip; a second `run` (the device, paced slowly so it stays up) serves that clip over
 * WebRTC with MQTT signalling; the viewer page, connected to the broker over MQTT-over-WebSocket,
 * lists the device and the event (with its snapshot), shows events and captions that arrive while
 * it is open, and plays the clip. Checks that Chromium decoded video frames (getStats
 * framesDecoded > 0, the <video>'s size, advancing currentTime), that a wrong token is refused in
 * the page with its reason, and that the live view with the anomaly region plays too.
 *
 * Needs Chromium at /usr/bin/chromium (apt package `chromium`; `.ci/run` installs it) and Ped2.
 * Set SFN_VIEWER_SCREENSHOT=docs/viewer-playing.png to save a screenshot of the page playing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import mqtt from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';

import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/broker.js';
import { runCommand, type RunSummary } from '../../src/runtime/command.js';
import { exitBeforeWrtcCleanup } from '../../src/webrtc/wrtc.js';
import { startViewerServer, type ViewerServer } from '../../src/viewer/server.js';
import { missingTools } from '../tools.js';

const CHROMIUM = '/usr/bin/chromium';
const PED2 = path.resolve('../shared/datasets/ucsd_ped2/testing/frames/01');
const MODEL = 'models/fp32/sfn-lite-ped2.onnx';
const DEVICE = 'ped2-cam';
const TOKEN = 'e2e-token-0123';
const skip = missingTools('chromium') || (!existsSync(PED2) && 'Ped2 not available');

after(() => exitBeforeWrtcCleanup());

describe('viewer in headless Chromium plays a flagged Ped2 clip over WebRTC', { skip }, () => {
  let dir = '';
  let broker: EmbeddedBroker;
  let viewer: ViewerServer;
  let browser: Browser;
  let page: Page;
  let first: RunSummary;
  const stopDevice = new AbortController();
  let device: Promise<RunSummary>;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-viewer-e2e-'));
    const config = path.join(dir, 'config.json');
    await fs.writeFile(config, JSON.stringify({ streaming: { token: TOKEN } }));
    broker = await startEmbeddedBroker(0, '127.0.0.1', { wsPort: 0 });
    const common = { broker: broker.url, deviceId: DEVICE, model: MODEL, providers: 'cpu', clips: path.join(dir, 'clips'), config };
    // 1. the detector on video 01, as fast as it goes: the cyclist is flagged and a clip recorded
    first = await runCommand({ ...common, source: PED2, realtime: false, stateDir: path.join(dir, 'state1') }, () => undefined);
    // 2. the device: the same video paced at 3 frames/s, so it stays up (about a minute) while the
    //    browser connects; stopped by the test
    device = runCommand({ ...common, source: PED2, realtime: true, fps: 3, stateDir: path.join(dir, 'state2'), signal: stopDevice.signal }, () => undefined);
    viewer = await startViewerServer({ broker: broker.wsUrl as string, port: 0, token: TOKEN });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
    page.on('pageerror', (e) => console.error('page error:', e.message));
  });

  after(async () => {
    await browser?.close();
    stopDevice.abort();
    await device?.catch(() => undefined);
    await viewer?.close();
    await broker?.close().catch(() => undefined);
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('the first run flagged an event and wrote its clip', () => {
    assert.ok(first.events >= 1, `no event flagged: ${JSON.stringify(first)}`);
    assert.ok(first.clips.length >= 1, 'no clip written');
  });

  it('lists the device (online) and the flagged event with its snapshot', async () => {
    await page.goto(viewer.url);
    await page.waitForSelector(`#device-list li.online[data-device="${DEVICE}"]`, { timeout: 60_000 });
    const row = page.locator(`tr[data-device="${DEVICE}"]`).filter({ has: page.locator('button.play:not([disabled])') }).first();
    await row.waitFor({ timeout: 60_000 });
    const src = await row.locator('img').getAttribute('src');
    assert.match(String(src), /^data:image\/jpeg;base64,/);
  });

  it('shows events and captions as they arrive over MQTT', async () => {
    const c = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      const id = await page.locator(`tr[data-device="${DEVICE}"]`).first().getAttribute('data-event');
      await c.publishAsync(`sfn/${DEVICE}/events/${id}/description`, JSON.stringify({ event_id: id, stage: 'peak', caption: 'e2e: a caption sent after the page opened' }), { qos: 1 });
      await page.locator(`tr[data-event="${id}"] td.caption`).filter({ hasText: 'e2e: a caption sent after the page opened' }).waitFor({ timeout: 30_000 });
      const start = { frame: 1, time: new Date().toISOString() };
      await c.publishAsync(`sfn/${DEVICE}/events`, JSON.stringify({ type: 'new', id: 'e2e-live-event', seq: 0, start, last: start, end: null, peak: { score: 7.25, frame: 1, time: start.time } }), { qos: 1 });
      const row = page.locator('tr[data-event="e2e-live-event"]');
      await row.waitFor({ timeout: 30_000 });
      assert.match(await row.innerText(), /7\.25[\s\S]*new/);
      assert.equal(await row.locator('button.play').isDisabled(), true, 'no clip yet: nothing to play');
      // a camera on its own topics (a cameras list): listed under its device, its events named by it
      await c.publishAsync(`sfn/${DEVICE}/door/availability`, 'online', { qos: 1, retain: false });
      await c.publishAsync(`sfn/${DEVICE}/yard/availability`, 'offline', { qos: 1, retain: false });
      await c.publishAsync(`sfn/${DEVICE}/door/events`, JSON.stringify({ type: 'new', id: 'e2e-door-event', seq: 0, start, last: start, end: null, peak: { score: 5.5, frame: 1, time: start.time }, camera_id: 'door' }), { qos: 1 });
      const cams = page.locator(`#device-list li[data-device="${DEVICE}"] ul.cameras li`);
      await page.locator(`#device-list li[data-device="${DEVICE}"] li[data-camera="yard"]`).waitFor({ timeout: 30_000 });
      assert.deepEqual(await cams.evaluateAll((ls) => ls.map((l) => `${l.getAttribute('data-camera')}:${l.getAttribute('data-state')}`)), ['door:online', 'yard:offline']);
      const doorRow = page.locator('tr[data-event="e2e-door-event"]');
      await doorRow.waitFor({ timeout: 30_000 });
      assert.match(await doorRow.innerText(), new RegExp(`${DEVICE} / door`));
    } finally {
      await c.endAsync();
    }
  });

  it('refuses a wrong token with the reason shown in the page', async () => {
    await page.fill('#token', 'not-the-token');
    await page.locator('button.play:not([disabled])').first().click();
    await page.waitForFunction(() => (window as unknown as { sfnViewer: { refused?: string } }).sfnViewer.refused !== undefined, undefined, { timeout: 30_000 });
    assert.match(await page.locator('#player-status').innerText(), /wrong token/);
    await page.fill('#token', TOKEN);
  });

  it('plays the clip: Chromium decodes frames of the clip size and currentTime advances', async () => {
    const t0 = Date.now();
    await page.locator('button.play:not([disabled])').first().click();
    await page.waitForFunction(() => {
      const v = document.querySelector('video') as HTMLVideoElement;
      const s = (window as unknown as { sfnViewer: { stats: { framesDecoded: number } } }).sfnViewer.stats;
      return s.framesDecoded > 0 && v.videoWidth > 0 && v.currentTime > 0;
    }, undefined, { timeout: 60_000, polling: 100 });
    const firstFrameMs = Date.now() - t0;
    const a = await page.evaluate(() => {
      const v = document.querySelector('video') as HTMLVideoElement;
      return { w: v.videoWidth, h: v.videoHeight, t: v.currentTime };
    });
    assert.deepEqual([a.w, a.h], [360, 240], 'the clip is at the source size (Ped2 frames, 360x240), encoded from the original images');
    await page.waitForFunction((t) => (document.querySelector('video') as HTMLVideoElement).currentTime > t, a.t, { timeout: 30_000 });
    await page.waitForFunction(() => (window as unknown as { sfnViewer: { stats: { framesDecoded: number } } }).sfnViewer.stats.framesDecoded >= 10, undefined, { timeout: 30_000 });
    const stats = await page.evaluate(() => (window as unknown as { sfnViewer: { stats: unknown } }).sfnViewer.stats);
    console.log(JSON.stringify({ time_to_first_frame_ms: firstFrameMs, stats }));
    const shot = process.env.SFN_VIEWER_SCREENSHOT;
    if (shot) await page.screenshot({ path: shot });
  });

  it('plays the live view with the anomaly region', async () => {
    await page.locator(`#device-list li[data-device="${DEVICE}"] button.live-region`).click();
    await page.waitForFunction(() => {
      const v = document.querySelector('video') as HTMLVideoElement;
      const w = window as unknown as { sfnViewer: { stats: { framesDecoded: number }; session: { what: { live?: boolean } } | null } };
      return w.sfnViewer.session?.what.live === true && w.sfnViewer.stats.framesDecoded > 0 && v.videoWidth > 0;
    }, undefined, { timeout: 60_000, polling: 100 });
    // the live view is at the source's size (Ped2 frames, 360x240, under the 720-row cap), not the model grid (144x96)
    await page.waitForFunction(() => (document.querySelector('video') as HTMLVideoElement).videoWidth === 360, undefined, { timeout: 30_000, polling: 100 });
    const v = await page.evaluate(() => {
      const e = document.querySelector('video') as HTMLVideoElement;
      return [e.videoWidth, e.videoHeight];
    });
    assert.deepEqual(v, [360, 240], 'the live view is at the source size');
    await page.click('#stop');
  });

  it('a clean stop of the device tells the page its session closed', async () => {
    await page.locator(`#device-list li[data-device="${DEVICE}"] button.live`).click();
    await page.waitForFunction(() => (window as unknown as { sfnViewer: { stats: { framesDecoded: number } } }).sfnViewer.stats.framesDecoded > 0, undefined, { timeout: 60_000, polling: 100 });
    stopDevice.abort();
    await page.waitForFunction(() => /session closed by the device: shutdown/.test(document.querySelector('#player-status')?.textContent ?? ''), undefined, { timeout: 30_000 });
    await device;
  });

  it('when the viewer loses its broker, every device shows unknown and Play / Live are off', async () => {
    await broker.close();
    await page.waitForFunction((d) => document.querySelector(`#device-list li[data-device="${d}"]`)?.getAttribute('data-state') === 'unknown', DEVICE, { timeout: 30_000 });
    assert.equal(await page.locator(`#device-list li[data-device="${DEVICE}"] button.live`).isDisabled(), true);
    assert.equal(await page.locator('button.play:not([disabled])').count(), 0);
  });
});
