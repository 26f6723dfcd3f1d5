/**
 * `sfn-edge caption`: captions every frame of a folder of videos and writes a caption file
 * (dataset.ts) for `train --captions` and `eval --captions`, with a progress bar and the measured
 * ms per caption.
 */
import cliProgress from 'cli-progress';

import { listVideos } from '../video/open.js';
import { log } from '../util/log.js';
import { createCaptioner } from './captioner.js';
import { CAPTION_SPEC, captionVideo, saveCaptionFile, videoKey, type CaptionFile } from './dataset.js';
import { TEXT_DIM } from './embed.js';

export interface CaptionCommandOptions {
  data: string;
  out: string;
  every: number;
  captioner: string;
  modelDir?: string;
}

/** Runs the command; prints `{"videos":..,"frames":..,"captions":..,"ms_per_caption":..}`. */
export async function runCaptionCommand(o: CaptionCommandOptions): Promise<void> {
  const videos = await listVideos(o.data);
  const captioner = await createCaptioner(o.captioner, o.modelDir ? { modelDir: o.modelDir } : {});
  const file: CaptionFile = { version: 1, captioner: captioner.name, textDim: TEXT_DIM, width: CAPTION_SPEC.width, height: CAPTION_SPEC.height, every: o.every, videos: {} };
  const bar = new cliProgress.SingleBar({ format: 'caption |{bar}| {value} frames | {video}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
  const show = process.stderr.isTTY;
  if (show) bar.start(0, 0, { video: '' });
  const t0 = performance.now();
  let frames = 0;
  try {
    for (const v of videos) {
      const key = videoKey(v);
      file.videos[key] = await captionVideo(captioner, v, o.every, CAPTION_SPEC, () => {
        frames++;
        if (show) bar.update(frames, { video: key });
      });
      await saveCaptionFile(o.out, file);
      log.info({ video: key, frames: file.videos[key]!.texts.length, seconds: +((performance.now() - t0) / 1000).toFixed(1) }, 'captioned');
    }
  } finally {
    if (show) bar.stop();
    await captioner.close();
  }
  const captions = Object.values(file.videos).reduce((n, v) => n + Math.ceil(v.texts.length / o.every), 0);
  const ms = (performance.now() - t0) / Math.max(1, captions);
  process.stdout.write(`${JSON.stringify({ videos: videos.length, frames, captions, ms_per_caption: +ms.toFixed(1), out: o.out })}\n`);
}
