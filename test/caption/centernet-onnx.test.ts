import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';

import { CENTERNET_PEAK_OUTPUTS, centerNetToOnnx, decodeCenterNet, decodePeaks, nonMaxSuppression, readGraphWeights } from '../../src/caption/centernet-onnx.js';
import { CAPTION_SPEC } from '../../src/caption/dataset.js';
import { centerNetFolder } from '../../src/caption/detector.js';
import { initBackend, tf } from '../../src/model/backend.js';
import { readAllFrames } from '../../src/video/open.js';

const PED2_01 = '../shared/datasets/ucsd_ped2/testing/frames/01';

test('the ONNX conversion of CenterNet matches the TensorFlow.js graph on a Ped2 frame (keypoints and box offsets)', async () => {
  const folder = centerNetFolder();
  const json = JSON.parse(readFileSync(join(folder, 'centernet.json'), 'utf8'));
  const bin = readFileSync(join(folder, 'centernet.bin'));
  const weights = readGraphWeights(json.weightsManifest, bin);
  const bytes = centerNetToOnnx(json.modelTopology.node, weights, 512, 512);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const frame = (await readAllFrames(PED2_01, CAPTION_SPEC))[170]!;
  const { width: W, height: H } = CAPTION_SPEC;
  const out = await session.run({ image: new ort.Tensor('float32', frame, [1, 3, H, W]) });
  await session.release();

  await initBackend();
  const model = await tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g: { weights: tf.io.WeightsManifestEntry[] }) => g.weights), weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) }),
  );
  const [kp, wh] = tf.tidy(() => {
    const x = tf.image.resizeBilinear(tf.transpose(tf.tensor3d(frame, [3, H, W]), [1, 2, 0]) as tf.Tensor3D, [512, 512]).mul(255).expandDims(0);
    return (model.execute(x, ['tower_0/keypoints', 'tower_0/wh']) as tf.Tensor[]).map((t) => t.transpose([0, 3, 1, 2]));
  });
  const ref = { keypoints: kp!.dataSync(), wh: wh!.dataSync() };
  tf.dispose([kp!, wh!]);
  model.dispose();

  assert.deepEqual(out.keypoints!.dims, [1, 80, 128, 128]);
  assert.deepEqual(out.wh!.dims, [1, 4, 128, 128]);
  const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
    return m;
  };
  // heatmap scores in [0, 1]; box offsets are distances of up to ~100 px. Not closer than ~1e-3:
  // ONNX HardSwish uses 1/6 exactly where the shipped graph stores it as float16 (0.16663)
  assert.ok(maxDiff(out.keypoints!.data as Float32Array, ref.keypoints) < 5e-3, `keypoints differ by ${maxDiff(out.keypoints!.data as Float32Array, ref.keypoints)}`);
  // box offsets matter where an object is found: compare them at the cells scoring >= 0.2
  const kpOut = out.keypoints!.data as Float32Array;
  const whOut = out.wh!.data as Float32Array;
  const cells = 128 * 128;
  let found = 0;
  let whDiff = 0;
  for (let i = 0; i < cells; i++) {
    let best = 0;
    for (let c = 0; c < 80; c++) best = Math.max(best, kpOut[c * cells + i]!);
    if (best < 0.2) continue;
    found++;
    for (let k = 0; k < 4; k++) whDiff = Math.max(whDiff, Math.abs(whOut[k * cells + i]! - ref.wh[k * cells + i]!));
  }
  assert.ok(found >= 5, `expected objects on the frame, found ${found} cells`);
  assert.ok(whDiff < 0.5, `box offsets differ by ${whDiff} px where objects are`);
});

test("the graph's own peaks decode to the boxes decodeCenterNet finds in the full heatmap, fetched alone", async () => {
  const folder = centerNetFolder();
  const json = JSON.parse(readFileSync(join(folder, 'centernet.json'), 'utf8'));
  const bytes = centerNetToOnnx(json.modelTopology.node, readGraphWeights(json.weightsManifest, readFileSync(join(folder, 'centernet.bin'))), 512, 512);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const frames = await readAllFrames(PED2_01, CAPTION_SPEC);
  const { width: W, height: H } = CAPTION_SPEC;
  try {
    for (const f of [0, 90, 170]) {
      const feeds = { image: new ort.Tensor('float32', frames[f]!, [1, 3, H, W]) };
      const full = await session.run(feeds);
      const peaks = await session.run(feeds, [...CENTERNET_PEAK_OUTPUTS]);
      assert.deepEqual(Object.keys(peaks).sort(), [...CENTERNET_PEAK_OUTPUTS].sort(), 'only the peak outputs are fetched');
      for (const minScore of [0.05, 0.2]) {
        const want = decodeCenterNet(full.keypoints!.data as Float32Array, full.wh!.data as Float32Array, 128, 128, minScore);
        const got = decodePeaks(peaks.peak_scores!.data as Float32Array, peaks.peak_index!.data as BigInt64Array, peaks.peak_wh!.data as Float32Array, 128, 128, minScore);
        assert.ok(want.length > 0, `frame ${f}: expected peaks at ${minScore}`);
        assert.deepEqual(got, want, `frame ${f}, min score ${minScore}`);
      }
    }
  } finally {
    await session.release();
  }
});

test('float16 weights are widened exactly; a truncated weights file and an unknown op are refused by name', () => {
  // 1.0, -2.0, 0.5 and the smallest subnormal as IEEE half bits
  const halves = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x0001]);
  const manifest = [{ weights: [{ name: 'w', shape: [4], dtype: 'float32', quantization: { dtype: 'float16' } }, { name: 'k', shape: [1], dtype: 'int32' }] }];
  const bin = new Uint8Array(12);
  bin.set(new Uint8Array(halves.buffer), 0);
  new DataView(bin.buffer).setInt32(8, 7, true);
  const w = readGraphWeights(manifest, bin);
  assert.deepEqual(Array.from(w.get('w')!.data), [1, -2, 0.5, 2 ** -24]);
  assert.deepEqual(Array.from(w.get('k')!.data), [7]);
  assert.throws(() => readGraphWeights(manifest, bin.subarray(0, 10)), /weights file is truncated: 'k' needs bytes 8–12, the file has 10/);
  const nodes = [
    { name: 'img', op: 'Placeholder' },
    { name: 'tower_0/keypoints', op: 'Softsign', input: ['img'] },
  ];
  assert.throws(() => centerNetToOnnx(nodes, new Map(), 64, 64), /op Softsign \(node tower_0\/keypoints\) is not supported/);
  assert.throws(() => centerNetToOnnx(nodes, new Map(), 60, 64), /multiple of 32/);
});

test('heatmap decoding keeps 3x3 peaks above the threshold and turns offsets into boxes at stride 4', () => {
  const h = 4;
  const w = 5;
  const kp = new Float32Array(2 * h * w); // 2 classes
  kp[1 * w + 1] = 0.9; // class 0 peak at (x 1, y 1)
  kp[1 * w + 2] = 0.5; // its neighbour: not a peak
  kp[3 * w + 4] = 0.1; // below the threshold
  kp[h * w + 2 * w + 3] = 0.6; // class 1 peak at (x 3, y 2)
  const wh = new Float32Array(4 * h * w);
  const set = (x: number, y: number, l: number, t: number, r: number, b: number) => [l, t, r, b].forEach((v, k) => (wh[k * h * w + y * w + x] = v));
  set(1, 1, 2, 3, 4, 5);
  set(3, 2, 1, 1, 1, 1);
  const d = decodeCenterNet(kp, wh, h, w, 0.2);
  assert.deepEqual(d, [
    { cls: 0, score: Math.fround(0.9), x1: 2, y1: 1, x2: 8, y2: 9 },
    { cls: 1, score: Math.fround(0.6), x1: 11, y1: 7, x2: 13, y2: 9 },
  ]);
});

test('non-maximum suppression drops a lower box overlapping a kept one (IoU >= threshold), keeps disjoint ones', () => {
  const box = (score: number, x1: number, y1: number, x2: number, y2: number) => ({ cls: 0, score, x1, y1, x2, y2 });
  const a = box(0.9, 0, 0, 10, 10);
  const b = box(0.8, 1, 0, 11, 10); // IoU 90/110 = 0.82 with a
  const c = box(0.7, 20, 20, 30, 30);
  const d = box(0.6, 5, 0, 15, 10); // IoU 50/150 = 0.33 with a
  assert.deepEqual(nonMaxSuppression([a, b, c, d], 0.5, 10), [a, c, d]);
  assert.deepEqual(nonMaxSuppression([a, b, c, d], 0.5, 2), [a, c]);
  assert.deepEqual(nonMaxSuppression([a, d], 1 / 3, 10), [a], 'IoU equal to the threshold suppresses');
});
