/**
 * Stress variants of UCSD Ped2 for the learn-normal recipe (issue 12), in the Ped2 layout that
 * `eval` reads (`training/frames`, `testing/frames`, `test_frame_labels.json`):
 *
 * - `ped2-3`: Ped2 with only its first 3 training videos (the few-normal-frames regime).
 * - `ped2-speed`: a motion-only anomaly, the kind copy-last is strong on. Training: the first 3
 *   training videos. Test: the other 13 training videos (normal, never trained on), each played
 *   at normal speed for its first 60 frames, then at 3x (every 3rd frame) to the end; the 3x frames
 *   are labelled anomalous. A predictor that learns to extrapolate any motion predicts these too.
 * - `ped2-local`: a local motion anomaly among normal walkers, the held-out scene's kind (people
 *   running where others walk). Training: the first 3 training videos. Test: the other 13, where
 *   from frame 40 on the left half of each frame comes from the same video played at 3x (frame
 *   40 + 3k) and the right half plays at normal speed (frame 40 + k); the camera is fixed, so the
 *   background matches and only the people in the left half move 3x faster. A frame from 40 on is
 *   labelled anomalous when its left half moves (more than 40 pixels of the 360 x 240 frame change
 *   by over 20/255 from the previous output frame there), else normal: a 3x half with nobody in it
 *   is not an anomaly. People crossing the seam are cut; that is part of the anomaly.
 * - `ped2-wide`: Ped2 centre-cropped to 16:9 (360 x 202), training and test, same labels: another
 *   aspect ratio (the recipe matches the grid to it: 152 x 88... see `gridFor`).
 *
 * - `ped2-h264`: every training and test video as a camera would send it: encoded with ffmpeg's
 *   H.264 defaults (libx264, CRF 23, yuv420p, 10 fps) and decoded back to PNG frames, same labels.
 *   A model trained on Ped2's JPEG frames meets compression artefacts it never saw.
 *
 * Usage: node --import tsx scripts/stress-sets.ts [ped2 root] [out folder] [sets, comma-separated; default all]
 * Frames are symlinked where they are unchanged; ped2-wide re-encodes JPEGs with sharp (~1 min).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';

const [root = '../shared/datasets/ucsd_ped2', out = '/work/tmp/stress', only = 'ped2-3,ped2-speed,ped2-local,ped2-wide,ped2-h264'] = process.argv.slice(2);
const sets = only.split(',');
const ped2 = resolve(root);
const train = join(ped2, 'training/frames');
const videos = (await readdir(train)).sort();
const jpgs = async (dir: string) => (await readdir(dir)).filter((f) => /\.(jpe?g|png|bmp)$/i.test(f)).sort();

async function linkTraining(dst: string, names: string[]) {
  await mkdir(join(dst, 'training/frames'), { recursive: true });
  for (const v of names) await symlink(join(train, v), join(dst, 'training/frames', v));
}

for (const set of sets) await rm(join(out, set), { recursive: true, force: true });

// ped2-3: first 3 training videos, the real test set
if (sets.includes('ped2-3')) {
  const dst = join(out, 'ped2-3');
  await linkTraining(dst, videos.slice(0, 3));
  await symlink(join(ped2, 'testing'), join(dst, 'testing'));
  await symlink(join(ped2, 'test_frame_labels.json'), join(dst, 'test_frame_labels.json'));
}

// ped2-speed: the other training videos, sped up 3x after frame 60
if (sets.includes('ped2-speed')) {
  const dst = join(out, 'ped2-speed');
  await linkTraining(dst, videos.slice(0, 3));
  const labels: Record<string, number[]> = {};
  for (const v of videos.slice(3)) {
    const files = await jpgs(join(train, v));
    const picks: number[] = [];
    for (let t = 0; t < Math.min(60, files.length); t++) picks.push(t);
    for (let t = 60; t < files.length; t += 3) picks.push(t);
    const dir = join(dst, 'testing/frames', v);
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < picks.length; i++) await symlink(join(train, v, files[picks[i]!]!), join(dir, `${String(i).padStart(3, '0')}.jpg`));
    labels[v] = picks.map((t) => (t >= 60 ? 1 : 0));
  }
  await writeFile(join(dst, 'test_frame_labels.json'), JSON.stringify(labels));
}

// ped2-local: the left half at 3x from frame 40, labelled where it moves
if (sets.includes('ped2-local')) {
  const dst = join(out, 'ped2-local');
  await linkTraining(dst, videos.slice(0, 3));
  const labels: Record<string, number[]> = {};
  const T0 = 40;
  for (const v of videos.slice(3)) {
    const files = await jpgs(join(train, v));
    const n = T0 + Math.floor((files.length - 1 - T0) / 3) + 1;
    const dir = join(dst, 'testing/frames', v);
    await mkdir(dir, { recursive: true });
    const lab: number[] = [];
    let prev: Buffer | null = null;
    for (let t = 0; t < n; t++) {
      const name = join(dir, `${String(t).padStart(3, '0')}.jpg`);
      const right = join(train, v, files[t]!);
      if (t < T0) {
        await symlink(right, name);
        lab.push(0);
        prev = null;
        continue;
      }
      const left = join(train, v, files[T0 + 3 * (t - T0)]!);
      const m = await sharp(right).metadata();
      const half = Math.floor(m.width! / 2);
      const band = await sharp(left).extract({ left: 0, top: 0, width: half, height: m.height! }).toBuffer();
      const img = await sharp(right).composite([{ input: band, left: 0, top: 0 }]).greyscale().raw().toBuffer();
      await sharp(img, { raw: { width: m.width!, height: m.height!, channels: 1 } }).jpeg({ quality: 95 }).toFile(name);
      let moving = 0;
      if (prev) for (let y = 0; y < m.height!; y++) for (let x = 0; x < half; x++) if (Math.abs(img[y * m.width! + x]! - prev[y * m.width! + x]!) > 20) moving++;
      // the first 3x frame counts as moving: its left half jumps
      lab.push(prev === null || moving > 40 ? 1 : 0);
      prev = img;
    }
    labels[v] = lab;
  }
  await writeFile(join(dst, 'test_frame_labels.json'), JSON.stringify(labels));
}

// ped2-wide: centre crop to 16:9
if (sets.includes('ped2-wide')) {
  const dst = join(out, 'ped2-wide');
  const crop = async (src: string, dir: string) => {
    await mkdir(dir, { recursive: true });
    for (const f of await jpgs(src)) {
      const img = sharp(join(src, f));
      const m = await img.metadata();
      const h = Math.round((m.width! * 9) / 16);
      await img.extract({ left: 0, top: Math.floor((m.height! - h) / 2), width: m.width!, height: h }).jpeg({ quality: 95 }).toFile(join(dir, f));
    }
  };
  for (const v of videos) await crop(join(train, v), join(dst, 'training/frames', v));
  const test = join(ped2, 'testing/frames');
  for (const v of (await readdir(test)).sort()) await crop(join(test, v), join(dst, 'testing/frames', v));
  await writeFile(join(dst, 'test_frame_labels.json'), await readFile(join(ped2, 'test_frame_labels.json')));
}
// ped2-h264: each video through H.264 at ffmpeg's defaults and back (PNG, lossless)
if (sets.includes('ped2-h264')) {
  const dst = join(out, 'ped2-h264');
  for (const part of ['training', 'testing']) {
    const src = join(ped2, part, 'frames');
    for (const v of (await readdir(src)).sort()) {
      const dir = join(dst, part, 'frames', v);
      await mkdir(dir, { recursive: true });
      const first = (await jpgs(join(src, v)))[0]!;
      const ext = first.slice(first.lastIndexOf('.'));
      const digits = first.length - ext.length;
      const mp4 = join(dst, `${part}-${v}.mp4`);
      const ff = (args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args]);
      ff(['-framerate', '10', '-start_number', String(Number(first.slice(0, digits))), '-i', join(src, v, `%0${digits}d${ext}`), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', mp4]);
      ff(['-i', mp4, '-start_number', '0', join(dir, `%0${digits}d.png`)]);
      await rm(mp4);
    }
  }
  await symlink(join(ped2, 'test_frame_labels.json'), join(dst, 'test_frame_labels.json'));
}

process.stdout.write(`${JSON.stringify({ out, sets })}\n`);
