import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fs from 'node:fs/promises';
import { onnx } from '../../src/export/builder.js';
import { buildGraph, INPUT_NAME, IR_VERSION, OPSET, OUTPUT_NAME, TEXT_INPUT_NAME, TEXT_OUTPUT_NAME } from '../../src/export/graph.js';
import * as ort from 'onnxruntime-node';
import { derived, makeConfig } from '../../src/core/model-config.js';
import { loadWeights } from '../../src/model/checkpoint.js';
import { weightsFromExport } from '../../src/export/unfold.js';
import { maxDiff, randomClips, TINY, TINY_RGB, tinyWeights, tmpDir } from './fixtures.js';
import { buildLegacyGraph } from './legacy-graph.js';

describe('buildGraph', () => {
  let dir: string;
  let arrays: Awaited<ReturnType<typeof loadWeights>>['arrays'];
  const cfg = makeConfig(TINY);

  before(async () => {
    dir = await tmpDir('graph');
    const { base } = await tinyWeights(dir, TINY);
    arrays = (await loadWeights(base)).arrays;
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  const dims = (v: onnx.IValueInfoProto | undefined) =>
    v?.type?.tensorType?.shape?.dim?.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue))) ?? [];

  it('writes an opset-17 IR-8 model with frames [N, 4C, H, W] -> pred [N, C, H, W]', () => {
    const g = buildGraph(cfg, arrays);
    const m = onnx.ModelProto.decode(g.bytes);
    assert.equal(Number(m.irVersion), IR_VERSION);
    assert.equal(m.producerName, 'sfn-edge');
    assert.deepEqual(m.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', OPSET]]);
    assert.equal(OPSET, 17);
    assert.equal(m.graph?.input?.[0]?.name, INPUT_NAME);
    assert.deepEqual(dims(m.graph?.input?.[0]), ['N', 4, 16, 24]);
    assert.equal(m.graph?.output?.[0]?.name, OUTPUT_NAME);
    assert.deepEqual(dims(m.graph?.output?.[0]), ['N', 1, 16, 24]);
    assert.deepEqual(JSON.parse(m.metadataProps.find((p) => p.key === 'sfn.config')!.value!), cfg);
  });

  it('fixes the batch dimension when asked', () => {
    const m = onnx.ModelProto.decode(buildGraph(cfg, arrays, { batch: 3 }).bytes);
    assert.deepEqual(dims(m.graph?.input?.[0]), [3, 4, 16, 24]);
    assert.deepEqual(dims(m.graph?.output?.[0]), [3, 1, 16, 24]);
    assert.throws(() => buildGraph(cfg, arrays, { batch: 0 }), /batch must be a positive integer/);
  });

  it('uses readable node names and the ops the design names', () => {
    const m = onnx.ModelProto.decode(buildGraph(cfg, arrays).bytes);
    const nodes = m.graph!.node;
    const names = new Set(nodes.map((n) => n.name));
    for (const n of ['block0/sffm/router', 'block0/sffm/router/topk', 'block1/attn/scores', 'block1/ln2', 'head/unpatchify/image', 'input/diff', 'pred'])
      assert.ok(names.has(n), `node ${n} missing`);
    assert.equal(names.size, nodes.length, 'node names are unique');
    const ln = nodes.filter((n) => n.opType === 'LayerNormalization');
    // ln1, lnm, ln2, sffm xhat per block + head
    assert.equal(ln.length, cfg.blocks * 4 + 1);
    for (const n of ln) assert.ok(Math.abs(n.attribute.find((a) => a.name === 'epsilon')!.f! - 1e-5) < 1e-12);
    const scores = nodes.find((n) => n.name === 'block0/attn/scores')!;
    assert.equal(scores.opType, 'MatMul');
    assert.equal(nodes.filter((n) => n.opType === 'TopK').length, cfg.blocks);
  });

  it('folds the SFFM LayerNorms and biases into initialisers', () => {
    const m = onnx.ModelProto.decode(buildGraph(cfg, arrays).bytes);
    const inits = new Set(m.graph!.initializer.map((t) => t.name));
    assert.ok(inits.has('block0.sffm.w1*ln'));
    assert.ok(inits.has('embed.app.b+pos'));
    assert.ok(!inits.has('block0.sffm.ln.g'), 'per-expert LN gamma is folded away');
  });

  it('semantic branch: a second input text [N, textDim] and output text_pred [N, textDim]; needs its weights', async () => {
    const { base } = await tinyWeights(dir, { ...TINY, textDim: 8 }, { name: 'sem' });
    const sem = (await loadWeights(base)).arrays;
    const scfg = makeConfig({ ...TINY, textDim: 8 });
    const m = onnx.ModelProto.decode(buildGraph(scfg, sem).bytes);
    assert.deepEqual(m.graph!.input!.map((i) => [i.name, dims(i)]), [[INPUT_NAME, ['N', 4, 16, 24]], [TEXT_INPUT_NAME, ['N', 8]]]);
    assert.deepEqual(m.graph!.output!.map((o) => [o.name, dims(o)]), [[TEXT_OUTPUT_NAME, ['N', 8]], [OUTPUT_NAME, ['N', 1, 16, 24]]]);
    // the text token joins the T = 6 visual tokens: queries of 7 tokens
    const split = m.graph!.node.find((n) => n.name === 'block0/attn/q/split')!;
    assert.ok(split);
    assert.throws(() => buildGraph(scfg, arrays), /parameter 'embed\.text\.w' is missing/);
  });

  it('names a missing or mis-shaped parameter', () => {
    const missing = new Map(arrays);
    missing.delete('block1.sffm.router');
    assert.throws(() => buildGraph(cfg, missing), /parameter 'block1\.sffm\.router' is missing/);
    assert.throws(() => buildGraph(makeConfig({ ...TINY, dim: 32 }), arrays), /parameter 'embed\.pos' has shape \[6, 16\], the configuration needs \[6, 32\]/);
  });
});

describe('token-row layout against the previous export', () => {
  let dir: string;
  before(async () => {
    dir = await tmpDir('layout');
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  const run = async (bytes: Uint8Array, cfg: ReturnType<typeof makeConfig>, clips: Float32Array, n: number, text?: Float32Array) => {
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, logSeverityLevel: 3 });
    try {
      const feeds: Record<string, ort.Tensor> = { [INPUT_NAME]: new ort.Tensor('float32', clips, [n, 4 * derived(cfg).channels, cfg.height, cfg.width]) };
      if (text) feeds[TEXT_INPUT_NAME] = new ort.Tensor('float32', text, [n, cfg.textDim]);
      const r = await s.run(feeds);
      return [...Object.keys(r)].sort().map((k) => (r[k]!.data as Float32Array).slice());
    } finally {
      await s.release();
    }
  };

  for (const [label, partial] of [['gray, shared expert', TINY], ['rgb, SFFM residual', TINY_RGB], ['semantic, text read mask', { ...TINY, textDim: 8, textAttention: 'read' as const }]] as const) {
    it(`${label}: Gemm linears, one patchify Transpose, outputs equal to the old 3-D export within 1e-4`, async () => {
      const { base, cfg } = await tinyWeights(dir, partial, { name: label.replace(/\W+/g, '-'), seed: 4 });
      const w = (await loadWeights(base)).arrays;
      const now = buildGraph(cfg, w);
      const old = buildLegacyGraph(cfg, w);
      const nodes = onnx.ModelProto.decode(now.bytes).graph!.node;
      const count = (op: string) => nodes.filter((n) => n.opType === op).length;
      const oldNodes = onnx.ModelProto.decode(old.bytes).graph!.node;
      assert.ok(count('Gemm') >= cfg.blocks * 6, `${count('Gemm')} Gemm nodes`);
      assert.ok(count('Add') < oldNodes.filter((n) => n.opType === 'Add').length - cfg.blocks * 6, 'bias Adds gone into the Gemms');
      assert.equal(count('Transpose'), oldNodes.filter((n) => n.opType === 'Transpose').length - 1, 'one patchify Transpose for appearance and motion');
      const n = 3;
      const clips = randomClips(cfg, n, 21);
      const text = cfg.textDim > 0 ? Float32Array.from({ length: n * cfg.textDim }, (_, i) => (i % 5) / 5) : undefined;
      const [a, b] = [await run(now.bytes, cfg, clips, n, text), await run(old.bytes, cfg, clips, n, text)];
      assert.equal(a.length, b.length);
      a.forEach((y, i) => assert.ok(maxDiff(y, b[i]!) <= 1e-4, `output ${i}: max |new - old| ${maxDiff(y, b[i]!)}`));
    });
  }

  it('weightsFromExport: an old export rebuilt in the new layout computes the same outputs', async () => {
    const { base, cfg } = await tinyWeights(dir, { ...TINY, textDim: 8 }, { name: 'unfold', seed: 6 });
    const w = (await loadWeights(base)).arrays;
    const old = buildLegacyGraph(cfg, w, { name: 'old' });
    const back = weightsFromExport(old.bytes);
    assert.deepEqual(back.cfg, cfg);
    const now = buildGraph(back.cfg, back.arrays);
    const n = 2;
    const clips = randomClips(cfg, n, 22);
    const text = Float32Array.from({ length: n * cfg.textDim }, (_, i) => (i % 3) / 3);
    const [a, b] = [await run(now.bytes, cfg, clips, n, text), await run(old.bytes, cfg, clips, n, text)];
    a.forEach((y, i) => assert.ok(maxDiff(y, b[i]!) <= 1e-5, `output ${i}: max |rebuilt - old| ${maxDiff(y, b[i]!)}`));
    const bare = onnx.ModelProto.decode(old.bytes);
    bare.metadataProps = [];
    assert.throws(() => weightsFromExport(onnx.ModelProto.encode(bare).finish(), 'bare.onnx'), /bare\.onnx has no 'sfn\.config' metadata/);
    const folded = onnx.ModelProto.decode(old.bytes);
    folded.graph!.initializer = folded.graph!.initializer.filter((t) => t.name !== 'block1.sffm.w1*ln');
    assert.throws(() => weightsFromExport(onnx.ModelProto.encode(folded).finish(), 'p.onnx'), /p\.onnx has no initialiser 'block1\.sffm\.w1\*ln'/);
  });
});
