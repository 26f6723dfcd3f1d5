import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fs from 'node:fs/promises';
import { onnx } from '../../src/export/builder.js';
import { buildGraph, INPUT_NAME, IR_VERSION, OPSET, OUTPUT_NAME, TEXT_INPUT_NAME, TEXT_OUTPUT_NAME } from '../../src/export/graph.js';
import { makeConfig } from '../../src/core/model-config.js';
import { loadWeights } from '../../src/model/checkpoint.js';
import { TINY, tinyWeights, tmpDir } from './fixtures.js';

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
