import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fs from 'node:fs/promises';
import path from 'node:path';
import { maxAbsDiff, PARITY_TOLERANCE } from '../../src/export/command.js';
import { manifestPathFor, readManifest, sha256, writeManifest } from '../../src/core/manifest.js';
import { loadWeights } from '../../src/model/checkpoint.js';
import { buildLegacyGraph } from './legacy-graph.js';
import { OnnxPredictor } from '../../src/inference/predictor.js';
import { TfjsPredictor } from '../../src/model/predictor.js';
import { maxDiff, quietExport, randomClips, TINY, TINY_RGB, tinyWeights, tmpDir } from './fixtures.js';

describe('runExport', () => {
  let dir: string;
  before(async () => {
    dir = await tmpDir('export');
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  it('writes model + manifest, prints one summary line, parity within 1e-4 (gray, shared expert)', async () => {
    const { base, cfg } = await tinyWeights(dir, TINY, { name: 'gray' });
    const out = path.join(dir, 'models', 'gray.onnx');
    const { summary, lines } = await quietExport({ weights: `${base}.json`, out });
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0]!), summary);
    assert.equal(summary.model, out);
    assert.equal(summary.manifest, path.join(dir, 'models', 'gray.manifest.json'));
    assert.ok(summary.max_abs_diff <= PARITY_TOLERANCE, `parity ${summary.max_abs_diff}`);
    const bytes = await fs.readFile(out);
    assert.equal(summary.bytes, bytes.byteLength);
    assert.equal(summary.sha256, sha256(bytes));
    assert.deepEqual((await fs.readdir(path.dirname(out))).sort(), ['gray.manifest.json', 'gray.onnx'], 'no temp files left');

    const { manifest } = await readManifest(out);
    assert.equal(manifest.format, 'sfn-edge-manifest/1');
    assert.equal(manifest.name, 'gray');
    assert.equal(manifest.file, 'gray.onnx');
    assert.equal(manifest.precision, 'fp32');
    assert.equal(manifest.opset, 17);
    assert.deepEqual(manifest.inputs[0]!.shape, ['N', 4, 16, 24]);
    assert.deepEqual(manifest.outputs[0]!.shape, ['N', 1, 16, 24]);
    assert.equal(manifest.inputs[0]!.layout, 'NCHW: 4 past frames x C, oldest first');
    assert.deepEqual(manifest.model, cfg);
    assert.deepEqual(manifest.experts.kept, [[0, 1, 2, 3], [0, 1, 2, 3]]);
    assert.deepEqual(
      { ...manifest.training },
      { weights: 'gray', data: '/data/normal', steps: 30, epochs: 2, epochs_completed: 2, seed: 1, batch: 4, lr: 1e-3, seconds: 12.5 },
    );
    assert.equal(manifest.parity.max_abs_diff, summary.max_abs_diff);
    assert.equal(manifest.parity.inputs.clips, 2);
    assert.equal(manifest.evaluation, undefined);
  });

  it('rgb, no shared expert, SFFM residual: parity within 1e-4, name option', async () => {
    const { base } = await tinyWeights(dir, TINY_RGB, { name: 'rgb', seed: 5 });
    const out = path.join(dir, 'rgb.onnx');
    const { summary } = await quietExport({ weights: base, out, name: 'tiny-rgb' });
    assert.ok(summary.max_abs_diff <= PARITY_TOLERANCE, `parity ${summary.max_abs_diff}`);
    const { manifest } = await readManifest(out);
    assert.equal(manifest.name, 'tiny-rgb');
    assert.deepEqual(manifest.inputs[0]!.shape, ['N', 12, 16, 24]);
    assert.equal(manifest.normalisation.channels, 3);
    assert.equal(manifest.experts.shared, 0);
  });

  it('semantic branch: parity of frames and text features within 1e-4; manifest lists text in/out and the score weights', async () => {
    const { base, cfg } = await tinyWeights(dir, { ...TINY, textDim: 8 }, { name: "sem", seed: 3 });
    const out = path.join(dir, 'sem.onnx');
    const { summary } = await quietExport({ weights: base, out });
    assert.ok(summary.max_abs_diff <= PARITY_TOLERANCE, `parity ${summary.max_abs_diff}`);
    const { manifest } = await readManifest(out);
    assert.deepEqual(manifest.inputs.map((i) => [i.name, i.shape]), [['frames', ['N', 4, 16, 24]], ['text', ['N', 8]]]);
    assert.deepEqual(manifest.outputs.map((o) => [o.name, o.shape]), [['pred', ['N', 1, 16, 24]], ['text_pred', ['N', 8]]]);
    assert.deepEqual(manifest.semantic?.weights, { frame: 0.8, text: 0.2 });
    // ONNX Runtime and TensorFlow.js agree through the predictors too
    const onnx = await OnnxPredictor.load(out, { providers: ['cpu'] });
    const tfjs = await TfjsPredictor.load(base, 3);
    try {
      assert.equal(onnx.textDim, 8);
      const clips = randomClips(cfg, 3, 11);
      const text = Float32Array.from({ length: 24 }, (_, i) => (i % 5) / 4);
      const a = await onnx.predictWithText(clips, 3, text);
      const b = await tfjs.predictWithText(clips, 3, text);
      assert.ok(maxDiff(a.pred, b.pred) <= PARITY_TOLERANCE && maxDiff(a.text, b.text) <= PARITY_TOLERANCE);
      await assert.rejects(onnx.predict(clips, 3), /semantic branch; call predictWithText/);
    } finally {
      await onnx.dispose();
      tfjs.dispose();
    }
  });

  it('keeps torch.topk tie-breaking: a zero router (all experts equally likely) still matches', async () => {
    const { base } = await tinyWeights(dir, TINY, { name: 'ties', seed: 9, zero: ['block0.sffm.router', 'block1.sffm.router'] });
    const { summary } = await quietExport({ weights: base, out: path.join(dir, 'ties.onnx') });
    assert.ok(summary.max_abs_diff <= PARITY_TOLERANCE, `parity ${summary.max_abs_diff}`);
  });

  it('fixed batch: the model takes exactly that batch; OnnxPredictor pads and chunks', async () => {
    const { base } = await tinyWeights(dir, TINY, { name: 'fixed', seed: 2 });
    const out = path.join(dir, 'fixed.onnx');
    await quietExport({ weights: base, out, batch: 3 });
    const onnxP = await OnnxPredictor.load(out, { providers: ['cpu'] });
    const tfjsP = await TfjsPredictor.load(base, 8);
    try {
      assert.equal(onnxP.fixedBatch, 3);
      assert.equal(onnxP.batchSize, 3);
      assert.deepEqual(onnxP.manifest.inputs[0]!.shape, [3, 4, 16, 24]);
      for (const n of [1, 5]) {
        const x = randomClips(tfjsP.config, n, 40 + n);
        const d = maxDiff(await onnxP.predict(x, n), await tfjsP.predict(x, n));
        assert.ok(d <= 1e-4, `n=${n}: ${d}`);
      }
    } finally {
      await onnxP.dispose();
      tfjsP.dispose();
    }
  });

  it('fails on unreadable weights and leaves nothing behind', async () => {
    const out = path.join(dir, 'none', 'x.onnx');
    await assert.rejects(quietExport({ weights: path.join(dir, 'nope.json'), out }), /cannot read the weights header/);
    await assert.rejects(fs.stat(out));
    await assert.rejects(fs.stat(manifestPathFor(out)));
  });

  it('--from-onnx: rebuilds an old-layout export in the current layout, checked against it; the manifest carries over', async () => {
    const { base, cfg } = await tinyWeights(dir, TINY, { name: 'legacy' });
    const w = (await loadWeights(base)).arrays;
    const oldFile = path.join(dir, 'legacy', 'm.onnx');
    await quietExport({ weights: base, out: oldFile });
    const first = await readManifest(oldFile);
    const legacy = buildLegacyGraph(cfg, w).bytes; // the model as the exporter wrote it before the token-row layout
    await fs.writeFile(oldFile, legacy);
    await writeManifest(oldFile, { ...first.manifest, sha256: sha256(legacy), bytes: legacy.byteLength, evaluation: { dataset: 'd', micro_auc: 0.9, macro_auc: null, measure: 'mse' } });
    const out = path.join(dir, 'rebuilt', 'm.onnx');
    const { summary } = await quietExport({ fromOnnx: oldFile, out });
    assert.ok(summary.max_abs_diff <= 1e-5, `parity vs the old graph ${summary.max_abs_diff}`);
    const { manifest, bytes } = await readManifest(out);
    assert.equal(manifest.sha256, sha256(bytes));
    assert.notEqual(manifest.sha256, sha256(legacy));
    assert.match(manifest.parity.reference, /rebuilt from .*export --from-onnx/);
    assert.deepEqual(manifest.training, first.manifest.training);
    assert.equal(manifest.evaluation?.micro_auc, 0.9);
    await assert.rejects(quietExport({ weights: base, fromOnnx: oldFile, out }), /either --weights or --from-onnx/);
  });

  it('maxAbsDiff treats NaN as a failure', () => {
    assert.equal(maxAbsDiff(Float32Array.of(0, 1), Float32Array.of(0.5, 1)), 0.5);
    assert.ok(Number.isNaN(maxAbsDiff(Float32Array.of(0, NaN), Float32Array.of(0, 1))));
    assert.throws(() => maxAbsDiff(new Float32Array(2), new Float32Array(3)), /differ in length/);
  });
});
