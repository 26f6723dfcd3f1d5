/**
 * `sfn-edge caption`: captions every frame of a folder of videos and writes a caption file
 * (dataset.ts) for `train --captions` and `eval --captions`, with a progress bar (videos done) and
 * the measured ms per caption. Videos are captioned on a pool of caption workers (pool.ts).
 */
import cliProgress from 'cli-progress';

import { listVideos } from '../video/open.js';
import { log } from '../util/log.js';
import { CAPTION_SPEC, saveCaptionFile, videoKey, type CaptionFile } from './dataset.js';
import { TEXT_DIM } from './embed.js';
import { CaptionPool, defaultCaptionWorkers } from './pool.js';

export interface CaptionCommandOptions {
  data: string;
  out: string;
  every: number;
  captioner: string;
  modelDir?: string;
  /** caption workers (default one per core, at most 4) */
  workers?: number;
}

/** Runs the command; prints `{"videos":..,"frames":..,"captions":..,"ms_per_caption":..}`. */
export async function runCaptionCommand(o: CaptionCommandOptions): Promise<void> {
  const videos = await listVideos(o.data);
  const pool = await CaptionPool.start(o.workers ?? defaultCaptionWorkers(), { captioner: o.captioner, ...(o.modelDir ? { modelDir: o.modelDir } : {}) });
  const file: CaptionFile = { version: 1, captioner: o.captioner, textDim: TEXT_DIM, width: CAPTION_SPEC.width, height: CAPTION_SPEC.height, every: o.every, videos: {} };
  const bar = new cliProgress.SingleBar({ format: 'caption |{bar}| {value}/{total} videos | {frames} frames', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
  const show = process.stderr.isTTY;
  if (show) bar.start(videos.length, 0, { frames: 0 });
  const t0 = performance.now();
  let frames = 0;
  let done = 0;
  try {
    const jobs = videos.map((v) => pool.captionVideo(v, o.every, CAPTION_SPEC));
    jobs.forEach((j) => j.catch(() => {})); // awaited in order below
    for (let i = 0; i < videos.length; i++) {
      const key = videoKey(videos[i]!);
      file.videos[key] = await jobs[i]!;
      frames += file.videos[key]!.texts.length;
      await saveCaptionFile(o.out, file);
      if (show) bar.update(++done, { frames });
      log.info({ video: key, frames: file.videos[key]!.texts.length, seconds: +((performance.now() - t0) / 1000).toFixed(1) }, 'captioned');
    }
  } finally {
    if (show) bar.stop();
    await pool.close();
  }
  const captions = Object.values(file.videos).reduce((n, v) => n + Math.ceil(v.texts.length / o.every), 0);
  const ms = (performance.now() - t0) / Math.max(1, captions);
  process.stdout.write(`${JSON.stringify({ videos: videos.length, frames, captions, workers: pool.size, ms_per_caption: +ms.toFixed(1), out: o.out })}\n`);
}
