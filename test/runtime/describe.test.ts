import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import type { CaptionRequest, CaptionResult } from '../../src/caption/captioner.js';
import { buildCaption } from '../../src/caption/describe.js';
import type { CaptionWorker } from '../../src/caption/worker.js';
import type { AnomalyEvent } from '../../src/events/detector.js';
import type { StoredFrame } from '../../src/pipeline/clips.js';
import { EventDescriber, type EventDescription } from '../../src/runtime/describe.js';
import { interleavedToPlanar } from '../../src/video/pixels.js';

const spec = { width: 4, height: 2, color: 'gray' as const };
const frame = (index: number): StoredFrame => ({ index, time: new Date(Date.UTC(2026, 0, 1, 0, 0, index)), pixels: new Uint8Array(8).fill(index) });

function event(type: AnomalyEvent['type'], startFrame: number, peakFrame: number, clip?: string): AnomalyEvent {
  const at = (f: number) => ({ frame: f, time: frame(f).time.toISOString() });
  return {
    type, id: 'ev1', seq: 0, start: at(startFrame), last: at(peakFrame), end: type === 'end' ? at(peakFrame + 2) : null,
    peak: { score: 9, ...at(peakFrame) }, mean: 5, frames: 3, threshold: { on: 4, off: 2, min_frames: 2 }, model_sha256: 'x', trace: [],
    ...(clip ? { clip: { recording: true as const } } : {}),
  } as unknown as AnomalyEvent;
}

test('stored HWC uint8 frames go to the captioner as CHW float32 in [0, 1] (interleavedToPlanar)', () => {
  assert.deepEqual(Array.from(interleavedToPlanar(new Uint8Array([0, 255, 51, 102]), 4, 1, 1)), [0, 1, 0.2, 0.4].map(Math.fround));
  assert.deepEqual(Array.from(interleavedToPlanar(new Uint8Array([10, 20, 30, 40, 50, 60]), 2, 1, 3)).map((v) => Math.round(v * 255)), [10, 40, 20, 50, 30, 60]);
});

test('an event is captioned at its start and at its peak (kept from the ring), sent as descriptions and stored with the clip', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sfn-desc-'));
  let ring: StoredFrame[] = [];
  const asked: CaptionRequest[] = [];
  const worker = {
    request: async (req: CaptionRequest, kind: string): Promise<CaptionResult> => {
      assert.equal(kind, 'event');
      asked.push(req);
      const structured = buildCaption([{ label: 'bicycle', score: 0.5, box: [0.5, 0.5, 0.2, 0.2] }], req.anomalyBox);
      return { text: structured.text, structured, embedding: new Float32Array(92), ms: 3, captioner: 'fake' };
    },
  } as unknown as CaptionWorker;
  const sent: Array<[string, EventDescription]> = [];
  const d = new EventDescriber({
    worker, spec, framesSince: (f) => ring.filter((x) => x.index >= f), regionAt: (f) => (f === 12 ? [0.5, 0.5, 0.25, 0.5] : undefined),
    publish: async (id, x) => {
      sent.push([id, x]);
    },
    // the recorder's path for the open recording (the messages themselves name no file)
    clipOf: (id) => (id === 'ev1' ? clip : undefined),
  });
  const clip = join(dir, 'clips', 'ev1.mp4');
  ring = [10, 11, 12].map(frame);
  d.onEvent(event('new', 11, 12, clip));
  ring = [40, 41, 42].map(frame); // the peak frame has left the ring by the end
  d.onEvent(event('update', 11, 12, clip));
  d.onEvent(event('end', 11, 12, clip));
  await d.idle();
  assert.deepEqual(sent.map(([id, x]) => [id, x.stage, x.frame]), [['ev1', 'start', 11], ['ev1', 'peak', 12]]);
  assert.equal(asked[1]!.anomalyBox?.join(), '0.5,0.5,0.25,0.5');
  assert.equal(asked[1]!.frame[0], Math.fround(12 / 255));
  assert.equal(asked[1]!.prev?.[0], Math.fround(10 / 255), 'an earlier frame (up to MOTION_GAP back) gives the motion');
  assert.equal(asked[1]!.gap, 2);
  assert.equal(sent[1]![1].caption, 'a bicycle, lower centre');
  const stored = JSON.parse(await readFile(join(dir, 'clips', 'ev1.caption.json'), 'utf8')) as EventDescription;
  assert.equal(stored.stage, 'peak');
  assert.deepEqual(d.counts, { sent: 2, failed: 0 });
  await rm(dir, { recursive: true, force: true });
});

test('a failing caption is counted and logged, the next event is still described', async () => {
  let n = 0;
  const worker = {
    request: async (): Promise<CaptionResult> => {
      n++;
      if (n === 1) throw new Error('captioner: boom');
      const structured = buildCaption([]);
      return { text: structured.text, structured, embedding: new Float32Array(92), ms: 1, captioner: 'fake' };
    },
  } as unknown as CaptionWorker;
  const sent: EventDescription[] = [];
  const d = new EventDescriber({ worker, spec, framesSince: (f) => [0, 1, 2, 3, 4].map((k) => frame(f + k)), publish: async (_id, x) => void sent.push(x) });
  d.onEvent(event('new', 5, 5));
  d.onEvent(event('end', 5, 6));
  await d.idle();
  assert.deepEqual(d.counts, { sent: 1, failed: 1 });
  assert.equal(sent[0]!.caption, 'no objects detected');
});
