import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { derived } from '../../src/core/model-config.js';
import { arrayReader, calibrate, makeCalibrator, MinMaxCalibrator, PercentileCalibrator } from '../../src/optimize/calibrate.js';
import { FP16_KEEP, toFloat16 } from '../../src/optimize/fp16.js';
import { dequantize, planInt8, quantize, quantizeBias, quantizeInt8, quantizePerColumn, ulpsUp } from '../../src/optimize/int8.js';
import { decodeModel, fromHalf, NotOnnxError, toHalf } from '../../src/export/onnx-graph.js';
import { diffStats, randomClips, runModel, tinyModel, tmpDir } from './fixtures.js';

describe('int8 and float16 number formats', () => {
  it('per-column symmetric quantization round-trips within half a step', () => {
    const K = 7;
    const N = 5;
    const w = Float32Array.from({ length: K * N }, (_, i) => Math.sin(i * 1.7) * (1 + (i % N)));
    for (let k = 0; k < K; k++) w[k * N + 3] = 0; // an all-zero column
    const { q, scales } = quantizePerColumn(w, K, N);
    assert.equal(scales[3], 1);
    for (let j = 0; j < N; j++) {
      let m = 0;
      for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(w[k * N + j]!));
      if (j !== 3) assert.ok(Math.abs(scales[j]! - m / 127) < 1e-7);
    }
    for (let i = 0; i < w.length; i++) {
      const s = scales[i % N]!;
      assert.ok(Math.abs(q[i]!) <= 127);
      assert.ok(Math.abs(dequantize(q[i]!, s) - w[i]!) <= s / 2 + 1e-7, `value ${i}`);
    }
    assert.ok(q.some((v) => Math.abs(v) === 127), 'the column maximum maps to +-127');
  });

  it('quantize rounds half to even and clamps to [-127, 127] (zero point 0)', () => {
    assert.equal(quantize(2.5, 1), 2);
    assert.equal(quantize(3.5, 1), 4);
    assert.equal(quantize(-2.5, 1), -2);
    assert.equal(quantize(1000, 1), 127);
    assert.equal(quantize(-1000, 1), -127);
    assert.equal(quantize(0, 0.1), 0);
  });

  it('float16 conversion: exact values, rounding to nearest even, overflow, subnormals', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 2 ** -14, 2 ** -24]) assert.equal(fromHalf(toHalf(v)), v);
    assert.equal(fromHalf(toHalf(0.1)), 0.0999755859375);
    assert.equal(fromHalf(toHalf(1 + 2 ** -11)), 1); // tie -> even
    assert.equal(fromHalf(toHalf(1 + 3 * 2 ** -11)), 1 + 2 ** -9);
    assert.equal(fromHalf(toHalf(70000)), Infinity);
    assert.equal(fromHalf(toHalf(2 ** -26)), 0);
    assert.ok(Number.isNaN(fromHalf(toHalf(NaN))));
  });

  it('Gemm biases: int32 at the per-column scale s_A * s_W[j], half to even', () => {
    assert.deepEqual([...quantizeBias(Float32Array.of(0.25, -0.75, 1e-3, 3), Float32Array.of(0.1, 0.5, 1, 1e-10))], [2, -2, 0, 2 ** 31 - 1]);
    assert.throws(() => quantizeBias(new Float32Array(2), new Float32Array(3)), /2 values, 3 scales/);
  });

  it('ulpsUp moves a scale by float32 steps', () => {
    assert.equal(ulpsUp(1, 0), 1);
    assert.equal(ulpsUp(1, 1), 1 + 2 ** -23);
  });
});

describe('calibrators', () => {
  it('min-max keeps max |x|; percentile reads the histogram, also after the range doubled', () => {
    const mm = new MinMaxCalibrator();
    mm.collect(Float32Array.of(0.5, -3, 2));
    assert.equal(mm.threshold(), 3);
    const p = new PercentileCalibrator(99, 1000);
    p.collect(Float32Array.from({ length: 10000 }, (_, i) => i / 10000)); // uniform [0, 1)
    p.collect(Float32Array.from({ length: 10000 }, (_, i) => -i / 2500)); // uniform (-4, 0]: range doubles twice
    const t = p.threshold();
    // |x|: half uniform on [0,1), half on [0,4): the 99th percentile is 3.92
    assert.ok(Math.abs(t - 3.92) < 0.02, `percentile ${t}`);
  });

  it('rejects calibration data of the wrong size', () => {
    assert.throws(() => arrayReader(new Float32Array(10), [4, 2, 2]), /calibration data of the wrong size: 10 values is not a whole number of \[4, 2, 2\] clips/);
    assert.throws(() => arrayReader(new Float32Array(0), [4, 2, 2]), /wrong size/);
  });
});

describe('fp16 and int8 variants of a tiny model', () => {
  let dir: string;
  let model: Awaited<ReturnType<typeof tinyModel>>;
  let clips: Float32Array;
  let ref: Float32Array;
  const n = 6;
  before(async () => {
    dir = await tmpDir('quant');
    model = await tinyModel(dir);
    clips = randomClips(model.cfg, 24, 11);
    ref = await runModel(model.bytes, model.cfg, clips, n);
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  it('refuses bytes that are not ONNX, or truncated', () => {
    assert.throws(() => toFloat16(new TextEncoder().encode('not a model at all')), NotOnnxError);
    assert.throws(() => planInt8(model.bytes.subarray(0, model.bytes.length >> 1)), /not an ONNX model, or it is truncated/);
  });

  // tolerances on uniform-random clips in [0,1] (outputs ~[0,1]); measured here: fp16 max 9e-4 / rms 2.4e-4,
  // int8 max 1.7e-2 / rms 4.5e-3 (both calibrators). Set SFN_SHOW_DIFF=1 to print them.
  it('fp16: float32 interface, float16 inside, runs on the CPU provider, parity max |d| < 1e-2', async () => {
    for (const keep of Object.keys(FP16_KEEP) as Array<keyof typeof FP16_KEEP>) {
      const { bytes, report } = toFloat16(model.bytes, FP16_KEEP[keep]);
      const m = decodeModel(bytes);
      assert.equal(m.graph!.input![0]!.type!.tensorType!.elemType, 1);
      assert.equal(m.graph!.output![0]!.type!.tensorType!.elemType, 1);
      assert.ok(m.graph!.initializer!.some((t) => t.dataType === 10));
      assert.equal(report.overflow, 0);
      if (keep === 'none') assert.equal(report.float32Nodes.length, 0);
      const d = diffStats(await runModel(bytes, model.cfg, clips, n), ref);
      if (process.env.SFN_SHOW_DIFF) console.log(keep, d);
      assert.ok(d.max < 1e-2, `fp16 (${keep}) max |d| ${d.max}`);
    }
  });

  it('int8 QDQ: symmetric, per-channel weights, fused by ONNX Runtime, parity max |d| < 0.1 and rms < 0.02', async () => {
    const plan = planInt8(model.bytes);
    const C = derived(model.cfg).channels;
    for (const method of ['minmax', 'percentile'] as const) {
      const ranges = await calibrate(model.bytes, plan, arrayReader(clips, [4 * C, model.cfg.height, model.cfg.width], 8), () => makeCalibrator(method), 1);
      const { bytes, report } = quantizeInt8(model.bytes, ranges);
      assert.equal(report.weights, report.quantizedNodes);
      const m = decodeModel(bytes);
      const zps = m.graph!.initializer!.filter((t) => /zero_point/.test(t.name!));
      const biasZps = new Set(m.graph!.node!.filter((x) => x.opType === 'DequantizeLinear' && x.input![0]!.endsWith('/int32')).map((x) => x.input![2]!));
      assert.equal(biasZps.size, report.biases);
      assert.ok(report.biases > 0, 'Gemm biases quantized');
      assert.ok(zps.length > 0 && zps.every((t) => t.dataType === (biasZps.has(t.name!) ? 6 : 3) && [...(t.rawData ?? [])].every((b) => b === 0)), 'int8 zero points (int32 for Gemm biases), all 0');
      const dqw = m.graph!.node!.filter((x) => x.opType === 'DequantizeLinear' && x.input![0]!.endsWith('/int8'));
      assert.equal(dqw.length, report.weights);
      assert.ok(dqw.every((x) => x.attribute!.some((a) => a.name === 'axis' && Number(a.i) === 1)), 'per-channel along the output axis');
      const optFile = path.join(dir, `int8-${method}.opt.onnx`);
      const got = await runModel(bytes, model.cfg, clips, n, optFile);
      const opt = decodeModel(new Uint8Array(await fs.readFile(optFile)));
      const fused = opt.graph!.node!.filter((x) => ['MatMulIntegerToFloat', 'QLinearMatMul', 'MatMulInteger', 'QGemm'].includes(x.opType!));
      assert.equal(fused.length, report.quantizedNodes, 'every quantized MatMul and Gemm fused into an integer kernel');
      assert.equal(opt.graph!.node!.filter((x) => x.opType === 'QGemm').length, report.biases, 'every Gemm with a bias is one QGemm');
      assert.equal(opt.graph!.node!.filter((x) => x.opType === 'DequantizeLinear').length, 0, 'no DequantizeLinear left unfused');
      const d = diffStats(got, ref);
      if (process.env.SFN_SHOW_DIFF) console.log(method, d);
      assert.ok(d.max < 0.1 && d.rms < 0.02, `int8 ${method}: max ${d.max}, rms ${d.rms}`);
    }
  });

  it('int8 with attention MatMuls (two activations) quantized too: fused, parity within the same tolerance', async () => {
    const opts = { activationMatMuls: true };
    const C = derived(model.cfg).channels;
    const ranges = await calibrate(model.bytes, planInt8(model.bytes, opts), arrayReader(clips, [4 * C, model.cfg.height, model.cfg.width], 8), () => makeCalibrator('minmax'), 1);
    const { bytes, report } = quantizeInt8(model.bytes, ranges, opts);
    assert.equal(report.quantizedNodes - report.weights, 2 * model.cfg.blocks, 'scores and context MatMul of every block');
    const optFile = path.join(dir, 'int8-attention.opt.onnx');
    const d = diffStats(await runModel(bytes, model.cfg, clips, n, optFile), ref);
    const opt = decodeModel(new Uint8Array(await fs.readFile(optFile)));
    assert.equal(opt.graph!.node!.filter((x) => x.opType === 'MatMul').length, 0, 'no float MatMul left');
    assert.ok(d.max < 0.1 && d.rms < 0.02, `int8 attention: max ${d.max}, rms ${d.rms}`);
  });

  it('int8 names the activation it has no range for', () => {
    assert.throws(() => quantizeInt8(model.bytes, new Map()), /int8: no calibrated range for '/);
  });
});
