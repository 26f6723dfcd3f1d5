/**
 * `optimize` on a semantic model (a `frames` and a `text` input): the calibration clips carry the
 * text feature of their last past frame from a caption file, so the int8 ranges and the parity
 * check see real text input; without a caption file it refuses with what to give. The model reads
 * the text through attention with an additive mask of -1e9, beyond float16's range: fp16 clamps it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { CaptionFile } from '../../src/caption/dataset.js';
import { TEXT_DIM } from '../../src/caption/embed.js';
import { readManifest } from '../../src/core/manifest.js';
import { runOptimize, type OptimizeSummary } from '../../src/optimize/command.js';
import { tinyModel, tmpDir, TINY } from './fixtures.js';

const PED2 = '/work/shared/datasets/ucsd_ped2';
const hasPed2 = existsSync(path.join(PED2, 'training/frames/01'));
const TEXT = TEXT_DIM;

/** `[n, TEXT]` features in [0, 4], seeded: a stand-in for detector captions (log(1 + scores) per slot). */
function features(n: number, seed: number): number[][] {
  let x = seed;
  const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, () => Array.from({ length: TEXT }, () => +(rand() * 4).toFixed(4)));
}

describe('sfn-edge optimize on a semantic model (tiny, Ped2 clips, caption file)', { skip: !hasPed2 && 'Ped2 not available' }, () => {
  let dir: string;
  let model: string;
  let calib: string;
  let captions: string;
  let summary: OptimizeSummary;
  before(async () => {
    dir = await tmpDir('optimize-sem');
    model = (await tinyModel(dir, { ...TINY, experts: 8, topK: 2, textDim: TEXT, textAttention: 'read' }, 3, [], 'sem')).file;
    calib = path.join(dir, 'calib');
    await fs.mkdir(calib);
    await fs.symlink(path.join(PED2, 'training/frames/01'), path.join(calib, '01'));
    const frames = (await fs.readdir(path.join(PED2, 'training/frames/01'))).filter((f) => /\.(jpe?g|png|tif)$/i.test(f)).length;
    const file: CaptionFile = { version: 1, captioner: 'detector', textDim: TEXT, width: 384, height: 256, every: 1, videos: { '01': { texts: new Array<string>(frames).fill('a person walks'), embeddings: features(frames, 7) } } };
    captions = path.join(dir, 'captions.json');
    await fs.writeFile(captions, JSON.stringify(file));
    summary = await runOptimize({ model, calib, out: path.join(dir, 'models'), name: 'sem', clips: 16, keep: 6, captions, threads: 1 }, () => {});
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  it('builds every variant, each taking frames and text, close to fp32 on both outputs', async () => {
    assert.deepEqual(summary.variants.map((v) => `${v.precision}/${v.name}`).sort(), ['fp16/sem', 'fp16/sem-p6', 'int8/sem', 'int8/sem-p6']);
    const ref = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    const n = 4;
    const feeds = {
      frames: new ort.Tensor('float32', Float32Array.from({ length: n * 4 * 16 * 24 }, (_, i) => ((i * 2654435761) % 1000) / 1000), [n, 4, 16, 24]),
      text: new ort.Tensor('float32', Float32Array.from(features(n, 11).flat()), [n, TEXT]),
    };
    const want = await ref.run(feeds);
    for (const v of summary.variants.filter((x) => !x.name.endsWith('-p6'))) {
      const { manifest } = await readManifest(v.file);
      assert.deepEqual(manifest.inputs.map((i) => i.name), ['frames', 'text']);
      assert.ok(manifest.parity.relative_rms! <= manifest.parity.tolerance, `${v.precision}: parity ${manifest.parity.relative_rms}`);
      const s = await ort.InferenceSession.create(v.file, { intraOpNumThreads: 1 });
      const got = await s.run(feeds);
      await s.release();
      // the text error is 1 - cos(text, text_pred): compare text_pred by direction, per clip
      const a = got.text_pred!.data as Float32Array;
      const b = want.text_pred!.data as Float32Array;
      for (let k = 0; k < n; k++) {
        let ab = 0;
        let aa = 0;
        let bb = 0;
        for (let i = k * TEXT; i < (k + 1) * TEXT; i++) {
          ab += a[i]! * b[i]!;
          aa += a[i]! ** 2;
          bb += b[i]! ** 2;
        }
        const cos = ab / Math.sqrt(aa * bb);
        assert.ok(cos >= (v.precision === 'fp16' ? 0.999 : 0.95), `${v.precision}: text_pred of clip ${k} at cos ${cos.toFixed(4)} to fp32's`);
      }
    }
    await ref.release();
  });

  it('refuses a semantic model without a caption file of the calibration videos, or one of another width', async () => {
    await assert.rejects(runOptimize({ model, calib, out: path.join(dir, 'none'), clips: 16, threads: 1 }, () => {}), /has a semantic branch: give the captions of the calibration videos with --captions <file>/);
    const wrong = path.join(dir, 'wrong.json');
    await fs.writeFile(wrong, JSON.stringify({ ...JSON.parse(await fs.readFile(captions, 'utf8')), textDim: 5 }));
    await assert.rejects(runOptimize({ model, calib, out: path.join(dir, 'none'), clips: 16, captions: wrong, threads: 1 }, () => {}), /text features of width 5; this sfn-edge uses 92/);
  });
});
