/**
 * Test fixtures for `learn`: a small normal video made with ffmpeg from Ped2 training frames
 * (videos 01 and 02 back to back, 270 frames, 10 fps, 360x240, H.264), long enough for the
 * recipe's time split to hold back 20+ calibration clips.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ffmpegBinary } from '../../src/video/ffmpeg.js';

export const PED2_TRAIN = path.resolve('../shared/datasets/ucsd_ped2/training/frames');
export const HAVE_PED2 = await fs.stat(path.join(PED2_TRAIN, '02')).then(() => true, () => false);

function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(ffmpegBinary(), ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += String(d)));
    c.once('error', reject);
    c.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg ${args.join(' ')}: ${err}`))));
  });
}

/**
 * Writes `<dir>/normal.<ext>` from Ped2 training videos 01 and 02 (270 frames at 10 fps).
 * @param ext `mp4` (a file, as a user would give it) or `ts` (MPEG-TS, streamable over HTTP).
 */
export async function ped2Video(dir: string, ext: 'mp4' | 'ts' = 'mp4'): Promise<string> {
  const frames = path.join(dir, 'frames');
  await fs.mkdir(frames, { recursive: true });
  let i = 0;
  for (const v of ['01', '02'])
    for (const n of (await fs.readdir(path.join(PED2_TRAIN, v))).filter((f) => f.endsWith('.jpg')).sort())
      await fs.symlink(path.join(PED2_TRAIN, v, n), path.join(frames, `${String(i++).padStart(4, '0')}.jpg`));
  const out = path.join(dir, `normal.${ext}`);
  await ffmpeg(['-framerate', '10', '-i', path.join(frames, '%04d.jpg'), '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', '10', ...(ext === 'ts' ? ['-f', 'mpegts'] : []), out]);
  return out;
}
