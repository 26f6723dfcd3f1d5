/**
 * ONNX Runtime is loaded on first use (src/inference/ort.ts): with onnxruntime-node unloadable
 * (test/fixtures/hide-onnxruntime.mjs, as on a device whose ONNX Runtime is missing or crashes),
 * `--version` and `profile detect` still work, and a verb that needs inference says what is wrong
 * and how to fix it. Real processes.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { startCli } from '../cli-process.js';

const env = { NODE_OPTIONS: `--import ${path.resolve('test/fixtures/hide-onnxruntime.mjs')}` };
const MODEL = 'models/int8/sfn-lite-ped2.onnx';
const PED2 = path.resolve('../shared/datasets/ucsd_ped2');

describe('onnxruntime-node loaded on first use', () => {
  it('--version works without it and still names its version (read from its package.json)', async () => {
    const p = startCli(['--version'], { env });
    assert.equal(await p.exited, 0, p.stderr.join('\n'));
    assert.match(p.stdout.join('\n'), /^sfn-edge \d+\.\d+\.\d+ \(linux-\w+, node v\d+\.\d+\.\d+, onnxruntime-node \d+\.\d+\.\d+\)/);
  });

  it('profile detect works without it', async () => {
    const p = startCli(['profile', 'detect'], { env });
    const code = await p.exited;
    const j = JSON.parse(p.stdout.join('\n')) as { profile: string | null; facts: unknown };
    assert.ok('facts' in j, 'detect printed its facts');
    assert.equal(code, j.profile ? 0 : 1);
  });

  it('eval without it fails with the package named and the install command', { skip: (!existsSync(MODEL) || !existsSync(PED2)) && 'model or Ped2 not available' }, async () => {
    const p = startCli(['eval', '--model', MODEL, '--dataset', PED2, '--videos', '01', '--providers', 'cpu'], { env });
    assert.equal(await p.exited, 1);
    const err = p.stderr.join('\n');
    assert.match(err, /cannot load onnxruntime-node \(ONNX Runtime\): Cannot find module 'onnxruntime-node'/);
    assert.match(err, /ONNXRUNTIME_NODE_INSTALL=skip npm install/);
  });
});
