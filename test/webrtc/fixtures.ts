/**
 * Fixtures for the WebRTC tests: a short clip of Ped2 frames (synthetic stand-ins when the dataset
 * is absent) with a visible per-frame marker (a flat top-left block whose brightness encodes the
 * frame index), stored as the runtime's clip recorder names clips; and a receiving peer that
 * collects the frames it decodes.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import sharp from 'sharp';

import { wrtc, type I420Frame, type IceCandidateInit, type PeerConnection, type VideoSink } from '../../src/webrtc/wrtc.js';
import { ffmpeg, removeDir, tempDir, writeFrames } from '../video/fixtures.js';

export { removeDir, tempDir };

/** Marker block: side in pixels, brightness of frame i = MARK_BASE + i * MARK_STEP. */
const MARK = 48;
const MARK_BASE = 16;
const MARK_STEP = 8;
export const CLIP_FRAMES = 30;

/**
 * Writes `<dir>/2026-01-01T00-00-00-000Z_<eventId>.mp4`: CLIP_FRAMES grey frames at 10 fps, each
 * stamped with its marker. Returns the path and the (even) frame size.
 */
export async function writeMarkedClip(dir: string, eventId: string): Promise<{ path: string; width: number; height: number }> {
  const frameDir = join(dir, 'frames');
  const jpgs = await writeFrames(frameDir, CLIP_FRAMES);
  let width = 0;
  let height = 0;
  for (const [i, jpg] of jpgs.entries()) {
    const { data, info } = await sharp(await readFile(jpg)).greyscale().raw().toBuffer({ resolveWithObject: true });
    width = info.width;
    height = info.height;
    const px = Buffer.from(data.buffer, data.byteOffset, info.width * info.height);
    for (let y = 0; y < MARK; y++) px.fill(MARK_BASE + i * MARK_STEP, y * info.width, y * info.width + MARK);
    await sharp(px, { raw: { width: info.width, height: info.height, channels: 1 } }).png().toFile(join(frameDir, `${String(i).padStart(3, '0')}.png`));
  }
  const clips = join(dir, 'clips');
  await mkdir(clips, { recursive: true });
  const path = join(clips, `2026-01-01T00-00-00-000Z_${eventId}.mp4`);
  ffmpeg(['-framerate', '10', '-i', join(frameDir, '%03d.png'), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', path]);
  await writeFile(join(dir, 'ok'), '');
  return { path, width: width - (width % 2), height: height - (height % 2) };
}

/** Frame index a received frame's marker encodes (mean luma of the block's inside). */
export function markerOf(f: I420Frame): number {
  let sum = 0;
  let n = 0;
  for (let y = 12; y < MARK - 12; y++) {
    for (let x = 12; x < MARK - 12; x++) {
      sum += f.data[y * f.width + x] as number;
      n++;
    }
  }
  return Math.round((sum / n - MARK_BASE) / MARK_STEP);
}

/** What a receiving peer saw. */
export interface Received {
  width: number;
  height: number;
  marker: number;
}

/** A receive-only viewer peer that records every decoded frame. */
export class Viewer {
  readonly pc: PeerConnection;
  readonly frames: Received[] = [];
  private sink: VideoSink | undefined;
  private waiters: Array<() => void> = [];

  constructor(onCandidate: (c: IceCandidateInit) => void) {
    const w = wrtc();
    this.pc = new w.RTCPeerConnection({ iceServers: [] });
    this.pc.addTransceiver('video', { direction: 'recvonly' });
    this.pc.onicecandidate = (ev) => {
      if (ev.candidate) onCandidate({ candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid ?? null, sdpMLineIndex: ev.candidate.sdpMLineIndex ?? null });
    };
    this.pc.ontrack = (ev) => {
      this.sink = new w.nonstandard.RTCVideoSink(ev.track);
      this.sink.onframe = ({ frame }) => {
        this.frames.push({ width: frame.width, height: frame.height, marker: markerOf(frame) });
        for (const r of this.waiters.splice(0)) r();
      };
    };
  }

  /** Creates and sets the local offer; returns its SDP. */
  async offer(): Promise<string> {
    const o = await this.pc.createOffer();
    await this.pc.setLocalDescription(o);
    return o.sdp;
  }

  /**
   * Resolves once `n` frames arrived, or 1 s after `done()` turns true (the sender finished), or
   * after `ms` (whatever arrived by then).
   */
  async waitFrames(n: number, ms = 20_000, done: () => boolean = () => false): Promise<Received[]> {
    let deadline = Date.now() + ms;
    let finishing = false;
    while (this.frames.length < n && Date.now() < deadline) {
      if (!finishing && done()) {
        finishing = true;
        deadline = Math.min(deadline, Date.now() + 1000);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(500, Math.max(1, deadline - Date.now())));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.frames;
  }

  /** Stops the sink and closes the connection. */
  close(): void {
    this.sink?.stop();
    this.sink = undefined;
    this.pc.close();
  }
}

/** Checks marker indices never go back and cover more than one frame. */
export function inOrder(frames: Received[]): boolean {
  for (let i = 1; i < frames.length; i++) if ((frames[i] as Received).marker < (frames[i - 1] as Received).marker) return false;
  return frames.length > 1 && (frames[frames.length - 1] as Received).marker > (frames[0] as Received).marker;
}

/**
 * node-webrtc's `RTCVideoSource` crashes Node's N-API environment cleanup at process exit
 * (SIGSEGV after the tests have passed; upstream node-webrtc #636). Leaving through
 * `process.exit` before that cleanup avoids it. Call from a top-level `after()` so node:test's own
 * exit handling (it also listens on `beforeExit`) runs first and sets the exit code.
 */
export function exitBeforeWrtcCleanup(): void {
  process.once('beforeExit', () => {
    setImmediate(() => process.exit(process.exitCode ?? 0));
  });
}
