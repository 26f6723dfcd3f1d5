import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { createCaptioner, DetectorCaptioner } from '../../src/caption/captioner.js';
import { CAPTION_SPEC } from '../../src/caption/dataset.js';
import { centerNetFolder } from '../../src/caption/detector.js';
import { TEXT_DIM } from '../../src/caption/embed.js';
import { checkVlmFolder, objectsFromText } from '../../src/caption/vlm.js';
import { CAPTION_NICE, CaptionWorker } from '../../src/caption/worker.js';
import { threadNices } from '../util/threads.js';
import { readAllFrames } from '../../src/video/open.js';

const PED2_01 = '../shared/datasets/ucsd_ped2/testing/frames/01';
let frames: Float32Array[] = [];

before(async () => {
  frames = (await readAllFrames(PED2_01, CAPTION_SPEC)).slice(118, 121);
});

test('the detector captioner describes a Ped2 frame: people found, a caption, a TEXT_DIM feature', async () => {
  const c = await DetectorCaptioner.create();
  try {
    const r = await c.caption({ frame: frames[2]!, prev: frames[1]!, width: CAPTION_SPEC.width, height: CAPTION_SPEC.height });
    const people = r.structured.objects.filter((o) => o.label === 'person');
    assert.ok(people.length >= 5, `expected a crowd, got ${people.length} people`);
    assert.ok(people.every((o) => o.motion !== undefined), 'every object has a motion estimate');
    assert.ok(r.text.length > 0 && /people|person/.test(r.text), r.text);
    assert.equal(r.embedding.length, TEXT_DIM);
    assert.ok(r.embedding[0]! > 0, 'the person slot is set');
    await assert.rejects(c.caption({ frame: new Float32Array(7), width: 4, height: 4 }), RangeError);
  } finally {
    await c.close();
  }
});

test('missing models: the detector folder, the VLM folder (absent, incomplete, not configured), an unknown captioner', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'sfn-vlm-'));
  assert.throws(() => centerNetFolder(empty), /centernet\.json is missing/);
  assert.throws(() => checkVlmFolder(undefined), /needs a local model folder/);
  assert.throws(() => checkVlmFolder(join(empty, 'nope')), /does not exist/);
  mkdirSync(join(empty, 'onnx'));
  writeFileSync(join(empty, 'config.json'), '{}');
  assert.throws(() => checkVlmFolder(empty), /incomplete: missing preprocessor_config\.json, tokenizer\.json, onnx\/encoder_model\.onnx, onnx\/decoder_model\.onnx/);
  await assert.rejects(createCaptioner('vlm', { modelDir: join(empty, 'nope') }), /does not exist/);
  await assert.rejects(createCaptioner('gpt'), /unknown captioner 'gpt'; use one of: detector, vlm/);
});

test('free-text VLM captions map onto the same text feature (named classes, fast)', () => {
  const o = objectsFromText('A man riding a bicycle fast past pedestrians');
  assert.deepEqual(o.map((x) => x.label).sort(), ['bicycle', 'person']);
  assert.ok(o.every((x) => x.motion?.state === 'fast'));
});

let worker: CaptionWorker | undefined;
after(async () => {
  await worker?.close();
});

test('the caption worker does not block the frame loop; periodic requests are dropped while busy', async () => {
  worker = await CaptionWorker.start();
  let ticks = 0;
  let done = false;
  const req = { frame: frames[2]!, prev: frames[1]!, width: CAPTION_SPEC.width, height: CAPTION_SPEC.height };
  const p = worker.request(req, 'event').then((r) => {
    done = true;
    return r;
  });
  assert.equal(worker.busy, true);
  // a periodic request while busy is dropped at once, not queued
  assert.equal(await worker.request(req, 'periodic'), null);
  assert.equal(worker.counts.droppedPeriodic, 1);
  // the main thread keeps turning (a stand-in for the frame loop) while the worker detects
  while (!done) {
    await new Promise((r) => setImmediate(r));
    ticks++;
  }
  const r = await p;
  assert.ok(r && r.text.length > 0);
  // the worker thread and the ONNX Runtime threads it started run at CAPTION_NICE; the main thread keeps its priority
  if (process.platform === 'linux') {
    const nices = threadNices();
    const lowered = [...nices.values()].filter((n) => n === CAPTION_NICE).length;
    assert.ok(lowered >= 1, `no thread at nice ${CAPTION_NICE}: ${JSON.stringify([...nices])}`);
    assert.notEqual(nices.get(process.pid), CAPTION_NICE);
  }
  assert.ok(ticks > 10, `the main thread ran only ${ticks} turns during a caption`);
  assert.equal(worker.counts.done, 1);
  assert.ok(r.embedding instanceof Float32Array && r.embedding.length === TEXT_DIM);
  // a worker that is gone refuses at once instead of leaving callers waiting
  await worker.close();
  await assert.rejects(worker.request(req, 'event'), /captioner unavailable: the caption worker was closed/);
  worker = undefined;
});

test('a worker for a captioner whose model is missing fails at start with the reason', async () => {
  await assert.rejects(CaptionWorker.start({ captioner: 'vlm', modelDir: '/nonexistent/vlm' }), /VLM model folder \/nonexistent\/vlm does not exist/);
});
