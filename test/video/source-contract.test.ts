/**
 * Every frame source runs the shared contract (source-contract.ts): an image folder, a video file
 * (ffmpeg), and a live MPEG-TS stream over HTTP on loopback (StreamSource, the RTSP/HTTP path).
 */
import http from 'node:http';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe } from 'node:test';

import { FfmpegSource } from '../../src/video/ffmpeg.js';
import { ImageFolderSource } from '../../src/video/image-folder.js';
import { StreamSource } from '../../src/video/stream-source.js';
import { encodeMp4, ffmpeg, garbleMiddle, removeDir, tempDir, writeFrames } from './fixtures.js';
import { sourceContract } from './source-contract.js';

let dir = '';
let server: http.Server | undefined;
let base = '';

before(async () => {
  dir = await tempDir('contract');
  await writeFrames(join(dir, 'frames'), 12);
  await writeFrames(join(dir, 'broken'), 12);
  await writeFile(join(dir, 'broken', '006.jpg'), 'not a jpeg');
  encodeMp4(join(dir, 'frames'), join(dir, 'clip.mp4'), true);
  await garbleMiddle(join(dir, 'clip.mp4'), join(dir, 'garbled.mp4'), 4096);
  ffmpeg(['-framerate', '10', '-i', join(dir, 'frames', '%03d.jpg'), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-f', 'mpegts', join(dir, 'clip.ts')]);
  const ts = await readFile(join(dir, 'clip.ts'));
  server = http.createServer((req, res) => {
    if (req.url === '/live.ts') res.writeHead(200, { 'content-type': 'video/mp2t' }).end(ts);
    else res.writeHead(200, { 'content-type': 'video/mp2t' }).end(Buffer.alloc(64 * 1024, 7));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
after(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await removeDir(dir);
});

describe('frame source contract: image folder', () =>
  sourceContract('image folder', { open: (spec) => ImageFolderSource.open(join(dir, 'frames'), spec), damaged: () => ImageFolderSource.open(join(dir, 'broken'), { width: 48, height: 32, color: 'gray' }) }));
describe('frame source contract: video file', () =>
  sourceContract('video file', { open: (spec) => FfmpegSource.open(join(dir, 'clip.mp4'), spec), damaged: () => FfmpegSource.open(join(dir, 'garbled.mp4'), { width: 48, height: 32, color: 'gray' }) }));
describe('frame source contract: HTTP stream', () =>
  sourceContract('HTTP stream', { open: async (spec) => new StreamSource(`${base}/live.ts`, spec), damaged: async () => new StreamSource(`${base}/garbage.ts`, { width: 48, height: 32, color: 'gray' }, 5000) }));
