/**
 * A streaming token made by the device (no `streaming.token` configured) is never written to the
 * log: `run` keeps it in `<state-dir>/streaming-token`, mode 0600, logs where to read it, and uses
 * the same token after a restart. Real `sfn-edge run` processes on 12 Ped2 frames, aedes broker.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/broker.js';
import { loadOrMakeToken } from '../../src/webrtc/service.js';
import { startCli } from '../cli-process.js';

const PED2 = path.resolve('../shared/datasets/ucsd_ped2/testing/frames/01');

describe('a token made by the device stays out of the log', { skip: !existsSync(PED2) && 'Ped2 not available' }, () => {
  let dir = '';
  let broker: EmbeddedBroker;
  let frames = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-token-'));
    frames = path.join(dir, 'frames');
    await fs.mkdir(frames);
    const names = (await fs.readdir(PED2)).filter((n) => /\.(jpg|png|tif)$/i.test(n)).sort().slice(0, 12);
    for (const n of names) await fs.copyFile(path.join(PED2, n), path.join(frames, n));
    broker = await startEmbeddedBroker(0);
  });
  after(async () => {
    await broker?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('loadOrMakeToken keeps a token, 0600, and replaces an empty file', async () => {
    const f = path.join(dir, 'unit-token');
    const a = loadOrMakeToken(f);
    assert.equal(a.made, true);
    assert.match(a.token, /^[A-Za-z0-9_-]{16}$/);
    assert.equal((await fs.stat(f)).mode & 0o777, 0o600);
    assert.deepEqual(loadOrMakeToken(f), { token: a.token, made: false });
    await fs.writeFile(f, '\n');
    const c = loadOrMakeToken(f);
    assert.equal(c.made, true);
    assert.notEqual(c.token, '');
    assert.equal(loadOrMakeToken(undefined).made, true);
  });

  it('run logs where the token is, never the token, and keeps it across a restart', async () => {
    const state = path.join(dir, 'state');
    const args = ['run', '--source', frames, '--model', 'models/fp32/sfn-lite-ped2.onnx', '--providers', 'cpu', '--device-id', 'token-cam',
      '--state-dir', state, '--clips', path.join(dir, 'clips'), '--broker', broker.url];
    const tokens: string[] = [];
    for (const round of [1, 2]) {
      const run = startCli(args);
      assert.equal(await run.exited, 0, run.stderr.slice(-10).join('\n'));
      const file = path.join(state, 'streaming-token');
      const token = (await fs.readFile(file, 'utf8')).trim();
      tokens.push(token);
      assert.equal((await fs.stat(file)).mode & 0o777, 0o600, 'only the device user reads it');
      const rec = run.records(`streaming.token is not configured: viewers must present the token ${round === 1 ? 'made' : 'kept'} for this device; read it from ${file} (or set streaming.token in the configuration to choose one)`);
      assert.equal(rec.length, 1, run.stderr.join('\n'));
      const all = [...run.stderr, ...run.stdout].join('\n');
      assert.ok(!all.includes(token), 'the token is not in the log or the output');
    }
    assert.equal(tokens[0], tokens[1], 'the same token after a restart');
  });
});
