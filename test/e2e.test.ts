/**
 * End to end on real data: train a tiny SFN-Lite for a few steps on two Ped2 training videos, export
 * it to ONNX (parity-checked), evaluate it through ONNX Runtime on one test video via the CLI, and
 * record the result in the manifest.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { program } from '../src/cli.js';
import { readManifest } from '../src/core/manifest.js';

const PED2 = path.resolve('../shared/datasets/ucsd_ped2');
const TINY = JSON.stringify({ height: 32, width: 48, patch: 8, dim: 16, blocks: 1, heads: 2, experts: 4, topK: 2, expertDim: 4 });

async function cli(args: string[]): Promise<string> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  // only our commands' text lines are captured; the test runner's own (binary) frames pass through
  process.stdout.write = ((c: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof c !== 'string') return (write as (...a: unknown[]) => boolean)(c, ...rest);
    chunks.push(c);
    return true;
  }) as typeof process.stdout.write;
  try {
    await program().exitOverride().parseAsync(['node', 'sfn-edge', ...args]);
  } finally {
    process.stdout.write = write;
  }
  return chunks.join('');
}

describe('train -> export -> eval (CLI, Ped2)', { skip: !(await fs.stat(PED2).catch(() => null)) && 'Ped2 not available' }, () => {
  let dir = '';
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('trains, exports and evaluates a tiny network', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-e2e-'));
    const out = path.join(dir, 'run');
    const trained = JSON.parse(await cli(['train', '--data', path.join(PED2, 'training/frames'), '--out', out, '--limit-videos', '2', '--max-steps', '6', '--batch', '2', '--warmup', '2', '--model', TINY]));
    assert.equal(trained.steps, 6);

    const model = path.join(dir, 'tiny.onnx');
    const exported = JSON.parse(await cli(['export', '--weights', path.join(out, 'weights.json'), '--out', model]));
    assert.ok(exported.max_abs_diff <= 1e-4, `parity ${exported.max_abs_diff}`);

    const res = JSON.parse(await cli(['eval', '--model', model, '--dataset', PED2, '--videos', '01', '--providers', 'cpu', '--json', '--record']));
    assert.equal(res.frames, 180 - 4);
    assert.ok(res.micro_auc >= 0 && res.micro_auc <= 1);
    assert.equal(res.measure, 'mse');
    assert.ok(res.patch_max.micro_auc >= 0 && res.patch_max.micro_auc <= 1);
    const { manifest } = await readManifest(model);
    assert.equal(manifest.evaluation?.micro_auc, res.micro_auc);
    // the weights are the checkpoint the validation rule chose; the run itself went to step 6
    assert.equal(manifest.training.steps, trained.chosen_step);
    assert.equal(manifest.training.last_step, 6);
  });

  it('copy-last baseline through the same command', async () => {
    const res = JSON.parse(await cli(['eval', '--baseline', 'copy-last', '--dataset', PED2, '--videos', '02', '--size', '48x32', '--json']));
    assert.equal(res.frames, 180 - 4);
    assert.equal(res.predictor, 'copy-last');
  });

  it('refuses ambiguous predictors with a clear message', async () => {
    await assert.rejects(cli(['eval', '--dataset', PED2, '--baseline', 'copy-last', '--model', 'models/fp32/sfn-lite-ped2.onnx', '--json']), /give only one of --model/);
  });
});
