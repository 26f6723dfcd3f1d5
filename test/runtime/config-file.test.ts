/**
 * `run --config` and `eval --online --config` with a configuration file that is not there: a typo
 * in the path must stop the command with the path named, not run on the defaults unnoticed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCli } from '../cli-process.js';

describe('a --config file that does not exist', () => {
  let dir = '';
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-cfgfile-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  for (const verb of ['run', 'eval'] as const) {
    it(`${verb} exits non-zero and names the missing file`, async () => {
      const missing = path.join(dir, 'typo.json');
      const ds = path.join(dir, `data-${verb}`);
      await fs.mkdir(ds);
      await fs.writeFile(path.join(ds, 'test_frame_labels.json'), '{"01": [0, 0, 1]}');
      const args = verb === 'run'
        ? ['run', '--source', ds, '--model', 'models/fp32/sfn-lite-ped2.onnx', '--config', missing, '--state-dir', path.join(dir, 'state'), '--clips', path.join(dir, 'clips'), '--broker', 'mqtt://127.0.0.1:1', '--realtime=false']
        : ['eval', '--online', '--dataset', ds, '--config', missing, '--json'];
      const p = startCli(args);
      assert.notEqual(await p.exited, 0);
      assert.ok(p.stderr.some((l) => l.includes(`${missing}: no such configuration file`)), p.stderr.slice(-5).join('\n'));
      assert.deepEqual((await fs.readdir(dir)).filter((f) => !f.startsWith('data-')), [], 'nothing was started: no state or clips folder');
    });
  }
});
