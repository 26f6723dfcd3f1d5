import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadWeights } from '../../src/model/checkpoint.js';
import { train, type TrainOptions } from '../../src/train/train.js';

const DATA = path.resolve('../shared/datasets/ucsd_ped2/training/frames');
const TINY = { height: 32, width: 48, patch: 8, dim: 16, blocks: 1, heads: 2, experts: 4, topK: 2, expertDim: 4 };

async function weightsOf(base: string): Promise<Float32Array[]> {
  const { arrays } = await loadWeights(base);
  return [...arrays.values()].map((a) => a.data);
}

describe('train (tiny network, 2 Ped2 training videos)', { skip: !(await fs.stat(DATA).catch(() => null)) && 'Ped2 not available' }, () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-train-'));
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });
  const base = (out: string): TrainOptions => ({
    data: DATA, out, epochs: 1, batch: 2, lr: 1e-3, warmup: 2, seed: 3, resume: false, model: TINY,
    limitVideos: 2, maxSteps: 4, checkpointEvery: 100, weightDecay: 0.01, clipNorm: 1, progress: false,
  });

  it('is reproducible with a fixed seed, and an interrupted run resumed gives the same weights', async () => {
    const a = await tmp();
    const b = await tmp();
    const r1 = await train(base(a));
    assert.equal(r1.steps, 4);
    const hist = (await fs.readFile(path.join(a, 'history.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(hist.length, 4);
    assert.ok(hist.every((h) => Number.isFinite(h.loss) && h.loss > 0));

    assert.equal(r1.partial, false);
    assert.equal(r1.totalSteps, 4);
    const part = await train({ ...base(b), stopAfter: 2 });
    assert.equal(part.steps, 2);
    // a run ended by --stop-after says it is partial, and so do its weights
    assert.equal(part.partial, true);
    assert.equal(part.totalSteps, 4);
    const partMeta = (await loadWeights(path.join(b, 'weights'))).header.meta as { partial?: boolean; totalSteps?: number; step?: number };
    assert.deepEqual([partMeta.partial, partMeta.totalSteps, partMeta.step], [true, 4, 2]);
    const resumed = await train({ ...base(b), resume: true });
    assert.equal(resumed.steps, 4);
    // the resumed run's figures: this run's steps and seconds beside the cumulative ones
    assert.equal(resumed.partial, false);
    assert.equal(resumed.thisRun.steps, 2);
    assert.ok(resumed.seconds > resumed.thisRun.seconds, 'cumulative seconds include the first part');
    assert.ok(Math.abs(resumed.thisRun.samplesPerSecond - (2 * 2) / resumed.thisRun.seconds) < 1e-6);
    assert.equal(((await loadWeights(path.join(b, 'weights'))).header.meta as { partial?: boolean }).partial, undefined);

    const wa = await weightsOf(path.join(a, 'weights'));
    const wb = await weightsOf(path.join(b, 'weights'));
    assert.equal(wa.length, wb.length);
    wa.forEach((t, i) => assert.deepEqual(t, wb[i]));
    // and training changed the weights (of the last step; `weights` is the checkpoint rule's pick)
    const { arrays } = await loadWeights(path.join(a, 'last'));
    assert.ok(arrays.get('head.w')!.data.some((v) => v !== 0), 'the zero-initialised head was updated');
  });

  it('validates on the held-back normal video and keeps the checkpoint with the best separation', async () => {
    const a = await tmp();
    const r = await train({ ...base(a), maxSteps: 6 });
    const val = (await fs.readFile(path.join(a, 'validation.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { step: number; separation: number });
    assert.equal(val[0]!.step, 0, 'step 0 (the copy-last predictor) is validated');
    assert.equal(val.at(-1)!.step, 6, 'the last step is validated');
    assert.ok(val.every((v) => Number.isFinite(v.separation)));
    const bestVal = val.reduce((x, y) => (y.separation >= x.separation ? y : x));
    assert.equal(r.chosenStep, bestVal.step);
    const w = await loadWeights(path.join(a, 'weights'));
    assert.equal(w.header.meta.step, bestVal.step);
    assert.deepEqual(await weightsOf(path.join(a, 'weights')), await weightsOf(path.join(a, 'best')));
    // every validation step the rule chose (after step 0) is kept as snapshots/result-SSSSSS: the result of a run stopped there
    let running = -Infinity;
    const chosen = val.filter((v) => (v.separation >= running ? ((running = v.separation), true) : false)).map((v) => v.step).filter((s) => s > 0);
    const kept = (await fs.readdir(path.join(a, 'snapshots')).catch(() => [] as string[])).filter((f) => f.startsWith('result-') && f.endsWith('.json')).map((f) => Number(f.slice(7, 13)));
    assert.deepEqual(kept.sort((x, y) => x - y), chosen);
    if (chosen.length) assert.deepEqual(await weightsOf(path.join(a, 'snapshots', `result-${String(chosen.at(-1)).padStart(6, '0')}`)), await weightsOf(path.join(a, 'best')));
    // trained on the train part only: the held-back tail of each video is not in the history's samples
    const meta = w.header.meta as Record<string, unknown>;
    assert.equal(meta.holdBack, true);
  });

  it('breaks a tie in validation toward the later step (a frozen frame path, here lr 0, must not fall back to step 0)', async () => {
    const a = await tmp();
    const r = await train({ ...base(a), lr: 0, maxSteps: 4 });
    const val = (await fs.readFile(path.join(a, 'validation.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { step: number; separation: number });
    assert.ok(val.length >= 2 && val.every((v) => v.separation === val[0]!.separation), 'weights unchanged: every validation equal');
    assert.equal(r.chosenStep, 4);
    assert.equal((await loadWeights(path.join(a, 'snapshots', 'result-000004'))).header.meta.step, 4, 'the chosen step is kept as a result snapshot');
  });

  it('rejects a data folder with no videos, naming it', async () => {
    const empty = await tmp();
    await assert.rejects(train({ ...base(await tmp()), data: empty }), (e: Error) => e.message.includes(empty));
  });
});
