/**
 * Stress variants of UCSD Ped2 for the learn-normal recipe (issue 12), in the Ped2 layout that
 * `eval` reads (`training/frames`, `testing/frames`, `test_frame_labels.json`):
 *
 * - `ped2-3`: Ped2 with only its first 3 training videos (the few-normal-frames regime).
 * - `ped2-speed`: a motion-only anomaly, the kind copy-last is strong on. Training: the first 3
 *   training videos. Test: the other 13 training videos (normal, never trained on), each played
 *   at normal speed for its first 60 frames, then at 3x (every 3rd frame) to the end; the 3x frames
 *   are labelled anomalous. A predictor that learns to extrapolate any motion predicts these too.
 * - `ped2-wide`: Ped2 centre-cropped to 16:9 (360 x 202), training and test, same labels: another
 *   aspect ratio (the recipe matches the grid to it: 152 x 88... see `gridFor`).
 *
 * Usage: node --import tsx scripts/stress-sets.ts [ped2 root] [out folder]
 * Frames are symlinked where they are unchanged; ped2-wide re-encodes JPEGs with sharp (~1 min).
 */
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';

const [root = '../shared/datasets/ucsd_ped2', out = '/work/tmp/stress'] = process.argv.slice(2);
const ped2 = resolve(root);
const train = join(ped2, 'training/frames');
const videos = (await readdir(train)).sort();
const jpgs = async (dir: string) => (await readdir(dir)).filter((f) => /\.(jpe?g|png|bmp)$/i.test(f)).sort();

async function linkTraining(dst: string, names: string[]) {
  await mkdir(join(dst, 'training/frames'), { recursive: true });
  for (const v of names) await symlink(join(train, v), join(dst, 'training/frames', v));
}

await rm(out, { recursive: true, force: true });

// ped2-3: first 3 training videos, the real test set
{
  const dst = join(out, 'ped2-3');
  await linkTraining(dst, videos.slice(0, 3));
  await symlink(join(ped2, 'testing'), join(dst, 'testing'));
  await symlink(join(ped2, 'test_frame_labels.json'), join(dst, 'test_frame_labels.json'));
}

// ped2-speed: the other training videos, sped up 3x after frame 60
{
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

// ped2-wide: centre crop to 16:9
{
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
process.stdout.write(`${JSON.stringify({ out, sets: ['ped2-3', 'ped2-speed', 'ped2-wide'] })}\n`);
