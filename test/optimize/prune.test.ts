import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { derived } from '../../src/core/model-config.js';
import { arrayReader } from '../../src/optimize/calibrate.js';
import { decodeModel, dimsOf, GraphIndex } from '../../src/export/onnx-graph.js';
import { chooseExperts, pruneExperts, routingStats } from '../../src/optimize/prune.js';
import { diffStats, randomClips, runModel, TINY, tinyModel, tmpDir } from './fixtures.js';

describe('expert pruning', () => {
  let dir: string;
  let model: Awaited<ReturnType<typeof tinyModel>>;
  let clips: Float32Array;
  let shape: [number, number, number];
  before(async () => {
    dir = await tmpDir('prune');
    model = await tinyModel(dir); // 4 experts, top-2, 2 layers
    clips = randomClips(model.cfg, 16, 5);
    shape = [4 * derived(model.cfg).channels, model.cfg.height, model.cfg.width];
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  it('routing statistics: selection rates sum to k, mean gates to the gate scale', async () => {
    const stats = await routingStats(model.bytes, arrayReader(clips, shape, 4), 1);
    assert.deepEqual(stats.map((s) => s.layer), ['block0/sffm', 'block1/sffm']);
    for (const s of stats) {
      assert.equal(s.tokens, 16 * derived(model.cfg).tokens);
      assert.ok(Math.abs(s.selected.reduce((a, b) => a + b, 0) - model.cfg.topK) < 1e-9);
      assert.ok(Math.abs(s.meanGate.reduce((a, b) => a + b, 0) - model.cfg.gateScale) < 1e-4);
    }
  });

  it('drops never-chosen experts exactly; the pruned model keeps top-k valid', async () => {
    // zero routers: all probabilities tie, TopK takes experts 0 and 1 (ties to the lower index); 2 and 3 are never chosen
    const bytes = (await tinyModel(dir, TINY, 3, ['block0.sffm.router', 'block1.sffm.router'], 'zero-router')).bytes;
    const stats = await routingStats(bytes, arrayReader(clips, shape, 4), 1);
    for (const s of stats) assert.deepEqual(s.selected, [1, 1, 0, 0]);
    const kept = chooseExperts(stats, 3, model.cfg.topK);
    assert.deepEqual(kept, [[0, 1, 2], [0, 1, 2]]);
    const pruned = pruneExperts(bytes, kept);
    const ix = new GraphIndex(decodeModel(pruned));
    assert.deepEqual(dimsOf(ix.inits.get(ix.node('block0/sffm/router').input![1]!)!), [model.cfg.dim, 3]);
    assert.ok(pruned.length < bytes.length);
    const d = diffStats(await runModel(pruned, model.cfg, clips, 8), await runModel(bytes, model.cfg, clips, 8));
    assert.ok(d.max < 1e-5, `pruning an unused expert changed the output by ${d.max}`);
    // the pruned model's own statistics: 3 experts, k still 2
    const again = await routingStats(pruned, arrayReader(clips, shape, 4), 1);
    assert.equal(again[0]!.selected.length, 3);
    assert.ok(Math.abs(again[0]!.selected.reduce((a, b) => a + b, 0) - 2) < 1e-9);
  });

  it('pruning used experts changes the output but still runs (keep = k)', async () => {
    const pruned = pruneExperts(model.bytes, [[0, 1], [2, 3]]);
    const out = await runModel(pruned, model.cfg, clips, 2);
    assert.ok(out.every(Number.isFinite));
  });

  it('refuses to keep fewer than k experts, bad indices, or the wrong layer count', async () => {
    const stats = await routingStats(model.bytes, arrayReader(clips, shape, 8), 1);
    assert.throws(() => chooseExperts(stats, 1, 2), /cannot keep 1 experts of 4 in block0\/sffm: need topK \(2\) <= keep <= 4/);
    assert.throws(() => pruneExperts(model.bytes, [[0], [0, 1]]), /block0\/sffm: keeping 1 experts leaves fewer than top-k = 2/);
    assert.throws(() => pruneExperts(model.bytes, [[0, 0, 1], [0, 1]]), /must be distinct indices in \[0, 4\)/);
    assert.throws(() => pruneExperts(model.bytes, [[0, 1]]), /kept lists 1 layers, the model has 2 SFFM layers/);
  });
});
