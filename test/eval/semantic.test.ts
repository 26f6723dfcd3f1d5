import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';

import { evaluateDataset } from '../../src/eval/evaluate.js';
import { CopyLastPredictor, type Predictor } from '../../src/core/predictor.js';
import { frameMse } from '../../src/scoring/error.js';
import { minMaxNormalise } from '../../src/scoring/normalise.js';
import { combineScores, evaluateProtocol } from '../../src/scoring/protocol.js';
import { gaussianSmooth } from '../../src/scoring/smoothing.js';
import type { FrameSpec } from '../../src/core/frame.js';

const spec: FrameSpec = { width: 4, height: 2, color: 'gray' };
const LABELS: Record<string, number[]> = { '01': [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0], '02': [0, 0, 0, 0, 0, 1, 1, 1, 0, 0] };
const frames = (name: string) => LABELS[name]!.map((_, t) => new Float32Array(8).fill(((t * 7) % 5) / 10));
// text features: [1, 0] normally, [1, 1] on anomalous frames ("a bicycle appears")
const texts = (name: string) => LABELS[name]!.map((l) => (l ? [1, 1] : [1, 0]));

/** A semantic "model": copy-last frames, and a text head that can only say "people" ([1, 0]). */
class FakeSemantic implements Predictor {
  readonly name = 'fake-semantic';
  readonly spec = spec;
  readonly batchSize = 3;
  readonly textDim = 2;
  private readonly copy = new CopyLastPredictor(spec, 3);
  seen: number[][] = [];
  predict(): Promise<Float32Array> {
    throw new Error('needs text');
  }
  async predictWithText(clips: Float32Array, n: number, text: Float32Array) {
    for (let i = 0; i < n; i++) this.seen.push(Array.from(text.subarray(i * 2, i * 2 + 2)));
    return { pred: await this.copy.predict(clips, n), text: Float32Array.from({ length: n * 2 }, (_, i) => (i % 2 === 0 ? 1 : 0)) };
  }
}

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'sfn-sem-'));
  for (const v of Object.keys(LABELS)) await mkdir(join(root, 'testing', 'frames', v), { recursive: true });
  await writeFile(join(root, 'test_frame_labels.json'), JSON.stringify(LABELS));
});
after(() => rm(root, { recursive: true, force: true }));

test('combineScores: weighted sum of per-part min-max + smoothing (the seed paper eval.py)', () => {
  const a = [0, 1, 2, 3];
  const b = [5, 5, 6, 5];
  const got = combineScores([{ errors: a, weight: 0.8 }, { errors: b, weight: 0.2 }], 1);
  const sa = gaussianSmooth(minMaxNormalise(a), 1);
  const sb = gaussianSmooth(minMaxNormalise(b), 1);
  got.forEach((v, i) => assert.ok(Math.abs(v - (0.8 * sa[i]! + 0.2 * sb[i]!)) < 1e-12));
  assert.throws(() => combineScores([{ errors: a, weight: 1 }, { errors: [1], weight: 1 }], 1), /parts of length 4 and 1/);
});

test('a semantic model is scored with 1 - cos of the text feature, combined 0.8 / 0.2 as the headline', async () => {
  const p = new FakeSemantic();
  const r = await evaluateDataset(p, root, {
    sigma: 1,
    readFrames: async (path) => frames(basename(path)),
    textFor: async (video) => texts(video),
  });
  // clip t gets the caption of frame t-1
  const expectSeen = Object.keys(LABELS).flatMap((v) => texts(v).slice(3, -1));
  assert.deepEqual(p.seen, expectSeen);
  const perVideo = Object.keys(LABELS).map((name) => {
    const f = frames(name);
    const mse = f.slice(4).map((x, k) => frameMse(f[k + 3]!, x));
    const sem = texts(name).slice(3, -1).map((t) => (t[1] ? 1 - 1 / Math.SQRT2 : 0));
    return { name, mse, sem, labels: LABELS[name]! };
  });
  const text = evaluateProtocol(perVideo.map((v) => ({ name: v.name, errors: v.sem, labels: v.labels })), { sigma: 1, drop: 4 });
  assert.ok(Math.abs(r.semantic!.text.micro_auc - text.microAuc) < 1e-12);
  const combined = evaluateProtocol(
    perVideo.map((v) => ({ name: v.name, errors: combineScores([{ errors: v.mse, weight: 0.8 }, { errors: v.sem, weight: 0.2 }], 1), labels: v.labels })),
    { sigma: 0, drop: 4, normalise: false },
  );
  assert.equal(r.micro_auc, combined.microAuc);
  assert.equal(r.semantic!.combined.micro_auc, combined.microAuc);
  assert.deepEqual(r.semantic!.weights, { frame: 0.8, text: 0.2 });
});

test('a semantic model without captions is refused with what to do', async () => {
  await assert.rejects(evaluateDataset(new FakeSemantic(), root, { readFrames: async (path) => frames(basename(path)) }), /needs the captions of the test videos \(eval --captions <file>/);
  await assert.rejects(
    evaluateDataset(new FakeSemantic(), root, { readFrames: async (path) => frames(basename(path)), textFor: async () => [[1, 0]] }),
    /captions give 1 text features \(of width 2\) for 12 frames/,
  );
});
