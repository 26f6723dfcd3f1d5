/**
 * Captioner latency: ms per caption (detector + motion + caption + text feature) of the default
 * captioner on consecutive frames of a video, at the caption grid (384x256 RGB, `sfn-edge caption`,
 * training and eval) and at the model grid (144x96 gray, what `run` captions events from).
 * Usage: node --import tsx scripts/caption-bench.ts [video] [frames]   (default: Ped2 test 01, 30)
 * Prints and appends one JSON line to bench/caption.json.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import os from 'node:os';

import { DetectorCaptioner } from '../src/caption/captioner.js';
import { readAllFrames } from '../src/video/open.js';

const [video = '../shared/datasets/ucsd_ped2/testing/frames/01', n = '30'] = process.argv.slice(2);
const captioner = await DetectorCaptioner.create();
const result: Record<string, unknown> = { at: new Date().toISOString(), video, cpu: os.cpus()[0]?.model, cores: os.cpus().length };
for (const [name, spec] of [['caption_grid_384x256_rgb', { width: 384, height: 256, color: 'rgb' as const }], ['model_grid_144x96_gray', { width: 144, height: 96, color: 'gray' as const }]] as const) {
  const frames = (await readAllFrames(video, spec)).slice(0, Number(n) + 3);
  await captioner.caption({ frame: frames[1]!, prev: frames[0]!, width: spec.width, height: spec.height }); // warm-up
  await captioner.caption({ frame: frames[2]!, prev: frames[1]!, width: spec.width, height: spec.height });
  const ms: number[] = [];
  for (let i = 3; i < frames.length; i++) ms.push((await captioner.caption({ frame: frames[i]!, prev: frames[i - 1]!, width: spec.width, height: spec.height })).ms);
  ms.sort((a, b) => a - b);
  result[name] = { calls: ms.length, p50_ms: +ms[Math.floor(ms.length / 2)]!.toFixed(1), p90_ms: +ms[Math.floor(ms.length * 0.9)]!.toFixed(1) };
}
await captioner.close();
console.log(JSON.stringify(result));
await mkdir('bench', { recursive: true });
await appendFile('bench/caption.json', `${JSON.stringify(result)}\n`);
