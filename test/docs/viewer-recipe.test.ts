/**
 * The viewer recipe of docs/streaming.md (the first `sh` block, which the README points to), run as
 * written: its three commands, verbatim, in the repository root (where the README says to run
 * them), then http://127.0.0.1:8080/ opened in headless Chromium, which plays the clip of the
 * event `run` flags in Ped2 test video 01 (issue 15, item 4).
 *
 * The recipe uses fixed ports (9001 for MQTT over WebSocket, 8080 for the page); when either is
 * taken the test is skipped with that reason rather than run with other ports. It writes
 * stream.json, .sfn-edge/ and clips/ into the repository, as a user's run would, and removes them
 * afterwards; when one of them already exists the test is skipped instead of touching it.
 * `npx sfn-edge` runs the built CLI (dist/, from `npm ci`).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium, type Browser, type Page } from 'playwright-core';

import { missingTools } from '../tools.js';

const DOC = 'docs/streaming.md';
const WRITES = ['stream.json', '.sfn-edge', 'clips'];
const PED2 = path.resolve('../shared/datasets/ucsd_ped2/testing/frames/01');

/** The commands of the first ```sh block of `doc` (comment and blank lines dropped). */
function recipe(doc: string): string[] {
  const m = /```sh\n([\s\S]*?)```/.exec(readFileSync(doc, 'utf8'));
  if (!m) throw new Error(`${doc}: no sh block`);
  return m[1]!.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

/** Whether something listens on 127.0.0.1:port. */
function inUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function skipReason(): Promise<string | false> {
  const tool = missingTools('chromium');
  if (tool) return tool;
  if (!existsSync(PED2)) return 'Ped2 not available';
  if (!existsSync('dist/cli.js')) return 'dist/ not built (npm run build): npx sfn-edge runs it';
  for (const p of [9001, 8080]) if (await inUse(p)) return `127.0.0.1:${p} is in use; the recipe as written needs it`;
  const there = WRITES.filter((f) => existsSync(f));
  if (there.length) return `${there.join(', ')} already in the repository; the recipe would write into it`;
  return false;
}

describe(`${DOC}: the viewer recipe as written, in Chromium`, { skip: await skipReason() }, () => {
  const procs: { line: string; child: ChildProcess; out: string[] }[] = [];
  let browser: Browser;
  let page: Page;

  /** Starts one recipe line with bash in its own process group, keeping its output. */
  const start = (line: string) => {
    const child = spawn('bash', ['-c', `exec ${line}`], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SFN_LOG_FORMAT: 'json' } });
    const out: string[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
    child.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
    procs.push({ line, child, out });
    return child;
  };
  const tail = () => procs.map((p) => `$ ${p.line}\n${p.out.join('').split('\n').slice(-8).join('\n')}`).join('\n');

  before(async () => {
    const lines = recipe(DOC);
    assert.equal(lines.length, 3, `three commands in the block: ${JSON.stringify(lines)}`);
    assert.match(lines[0]!, /^echo '.*' > stream\.json$/);
    assert.match(lines[1]!, /^npx sfn-edge run .*--loop/);
    assert.match(lines[2]!, /^npx sfn-edge viewer --broker ws:\/\/127\.0\.0\.1:9001/);
    const w = spawnSync('bash', ['-c', lines[0]!]);
    assert.equal(w.status, 0, String(w.stderr));
    start(lines[1]!);
    start(lines[2]!);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'] });
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close();
    // npx runs the CLI in a child of its own: wait until the whole process group is gone (the run
    // finishes its clip on SIGTERM), SIGKILL after 20 s, before removing what it wrote
    const alive = (pid: number) => { try { process.kill(-pid, 0); return true; } catch { return false; } };
    for (const { child } of procs) {
      if (!alive(child.pid!)) continue;
      process.kill(-child.pid!, 'SIGTERM');
      for (let i = 0; i < 80 && alive(child.pid!); i++) await new Promise((r) => setTimeout(r, 250));
      if (alive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
    }
    for (const f of WRITES) await fs.rm(f, { recursive: true, force: true });
  });

  it('the page at http://127.0.0.1:8080/ lists the device and plays the clip of the flagged event', async () => {
    let up = false;
    for (let i = 0; i < 120 && !up; i++) {
      up = await fetch('http://127.0.0.1:8080/').then((r) => r.ok, () => false);
      if (!up) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(up, `the viewer did not answer on 8080 within 60 s\n${tail()}`);
    await page.goto('http://127.0.0.1:8080/');
    // the first event of video 01 ends within its first pass (18 s at 10 frames/s); its clip follows
    const play = page.locator('button.play:not([disabled])').first();
    await play.waitFor({ timeout: 120_000 }).catch((err: unknown) => { throw new Error(`no playable clip listed: ${(err as Error).message}\n${tail()}`); });
    await play.click();
    await page.waitForFunction(() => {
      const v = document.querySelector('video') as HTMLVideoElement;
      const s = (window as unknown as { sfnViewer: { stats: { framesDecoded: number } } }).sfnViewer.stats;
      return s.framesDecoded > 0 && v.videoWidth > 0 && v.currentTime > 0;
    }, undefined, { timeout: 60_000, polling: 100 });
    const v = await page.evaluate(() => {
      const e = document.querySelector('video') as HTMLVideoElement;
      return { w: e.videoWidth, h: e.videoHeight };
    });
    assert.deepEqual([v.w, v.h], [360, 240], 'the clip is at the source size (Ped2 frames, 360x240), encoded from the original images');
    for (const p of procs) assert.equal(p.child.exitCode, null, `still running: ${p.line}\n${tail()}`);
  });
});
