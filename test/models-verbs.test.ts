/**
 * Every verb that takes a model, on every model committed under models/ (issue 15, item 3), as a
 * real `sfn-edge` process (test/cli-process.ts): `models`, `bench`, `eval` (offline and `--online`)
 * and `run --realtime=false` with the embedded broker, plus `run` / `eval --online` without
 * `--model` (the default of models/default.json). A semantic model (second input `text`) must pass
 * every verb like a frame-only one.
 *
 * Sized to stay near a minute on a 2-core machine: a data set of 2 test videos x 16 Ped2 frames
 * (each half normal, half anomalous) and 16 normal frames for --online's false events, and
 * `bench --runs 1`. The verbs' own costs are then mostly process start (~2 s each: tsx, ONNX
 * Runtime); a semantic model adds the caption worker (the detector, ~50 ms a caption) in eval and run.
 * The AUCs of 16-frame videos mean nothing: the checks are exit status and well-formed output.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { listModels } from '../src/optimize/models.js';
import { startCli } from './cli-process.js';

const PED2 = path.resolve('../shared/datasets/ucsd_ped2');
const models = (await listModels('models')).map((e) => ({ variant: e.variant, file: e.file, semantic: e.manifest?.semantic !== undefined }));

/** Runs `sfn-edge <args>` to its end; asserts exit 0 (stderr tail in the message) and returns its last stdout line as JSON. */
async function cliJson(args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const p = startCli(args, { env });
  const code = await p.exited;
  assert.equal(code, 0, `sfn-edge ${args.join(' ')} exited ${code}:\n${p.stderr.slice(-12).join('\n')}`);
  const last = p.stdout.filter((l) => l.trim()).at(-1);
  assert.ok(last, `sfn-edge ${args.join(' ')} printed nothing on stdout`);
  return JSON.parse(last) as Record<string, unknown>;
}

describe('every verb on every committed model', { skip: !existsSync(PED2) && 'Ped2 not available' }, () => {
  let dir = '';
  let data = '';
  let env: NodeJS.ProcessEnv = {};
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-verbs-'));
    data = path.join(dir, 'ped2-tiny');
    // frames 52-67 of test video 01 and 86-101 of 02: 8 normal then 8 anomalous each (Ped2 labels)
    const labels = JSON.parse(await fs.readFile(path.join(PED2, 'test_frame_labels.json'), 'utf8')) as Record<string, number[]>;
    const pick = { '01': 52, '02': 86 } as const;
    const tiny: Record<string, number[]> = {};
    for (const [video, from] of Object.entries(pick)) {
      const out = path.join(data, 'testing', 'frames', video);
      await fs.mkdir(out, { recursive: true });
      for (let i = 0; i < 16; i++) await fs.copyFile(path.join(PED2, 'testing', 'frames', video, `${String(from + i).padStart(3, '0')}.jpg`), path.join(out, `${String(i).padStart(3, '0')}.jpg`));
      tiny[video] = labels[video]!.slice(from, from + 16);
      assert.ok(tiny[video]!.includes(0) && tiny[video]!.includes(1), `${video}: both classes`);
    }
    await fs.writeFile(path.join(data, 'test_frame_labels.json'), JSON.stringify(tiny));
    const normal = path.join(data, 'training', 'frames', '01');
    await fs.mkdir(normal, { recursive: true });
    for (let i = 0; i < 16; i++) await fs.copyFile(path.join(PED2, 'training', 'frames', '01', `${String(i).padStart(3, '0')}.jpg`), path.join(normal, `${String(i).padStart(3, '0')}.jpg`));
    // the semantic model's captions of the tiny videos go to a cache of this test, not .sfn-edge/
    env = { SFN_CAPTION_CACHE: path.join(dir, 'captions') };
  });
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('models/ holds the committed models, among them a semantic one', () => {
    assert.ok(models.length >= 6, models.map((m) => m.variant).join(', '));
    assert.ok(models.some((m) => m.semantic), 'a model with the text input');
  });

  it('bench measures every model; models then shows ms/frame for each (fp32 included)', async () => {
    const save = path.join(dir, 'bench.json');
    const r = (await cliJson(['bench', '--runs', '1', '--threads', '2', '--save', save, '--json'], env)) as { rows: { variant: string; sha256: string; ms_batch: { p50: number }; fps: number }[] };
    assert.deepEqual(r.rows.map((x) => x.variant), models.map((m) => m.variant));
    for (const row of r.rows) assert.ok(row.ms_batch.p50 > 0 && row.fps > 0 && /^[0-9a-f]{64}$/.test(row.sha256), row.variant);
    const listed = (await cliJson(['models', '--bench', save, '--json'], env)) as unknown as { variant: string; error: string | null; default: boolean; ms_per_frame: number | null; ms_source: string | null }[];
    assert.deepEqual(listed.map((x) => x.variant), models.map((m) => m.variant));
    for (const x of listed) {
      assert.equal(x.error, null, x.variant);
      assert.equal(x.ms_source, 'bench', `${x.variant}: ms/frame from this bench run`);
      assert.equal(x.ms_per_frame, r.rows.find((y) => y.variant === x.variant)!.ms_batch.p50, x.variant);
    }
    assert.deepEqual(listed.filter((x) => x.default).map((x) => x.variant), ['fp32/sfn-lite-ped2']);
  });

  for (const m of models) {
    it(`eval ${m.variant}`, async () => {
      const r = await cliJson(['eval', '--model', m.file, '--dataset', data, '--providers', 'cpu', '--json'], env);
      assert.equal(r.frames, 2 * (16 - 4), 'every clip of both videos scored');
      assert.ok(typeof r.micro_auc === 'number' && r.micro_auc >= 0 && r.micro_auc <= 1);
      assert.equal(r.measure, m.semantic ? 'mse+text' : 'mse');
    });

    it(`eval --online ${m.variant}`, async () => {
      const r = (await cliJson(['eval', '--online', '--model', m.file, '--dataset', data, '--normal', path.join(data, 'training', 'frames'), '--providers', 'cpu', '--json'], env)) as { online: { model: string; segments: number; micro_auc: number } };
      assert.equal(r.online.model, m.file);
      assert.equal(r.online.segments, 2);
      assert.ok(r.online.micro_auc >= 0 && r.online.micro_auc <= 1);
    });

    it(`run --realtime=false ${m.variant} (embedded broker)`, async () => {
      const tag = m.variant.replace(/\W/g, '-');
      const s = await cliJson(['run', '--source', path.join(data, 'testing', 'frames', '01'), '--model', m.file, '--realtime=false', '--providers', 'cpu',
        '--device-id', `verbs-${tag}`, '--clips', path.join(dir, 'clips', tag), '--state-dir', path.join(dir, 'state', tag)], env);
      assert.equal(s.model, m.file);
      assert.equal(s.frames, 16);
      assert.equal(s.scored, 12, 'every clip of 4 past frames + 1');
      assert.equal(s.outbox_flushed, true);
    });
  }

  it('run and eval --online without --model load the default of models/default.json', async () => {
    const s = await cliJson(['run', '--source', path.join(data, 'testing', 'frames', '02'), '--realtime=false', '--providers', 'cpu',
      '--device-id', 'verbs-default', '--clips', path.join(dir, 'clips', 'default'), '--state-dir', path.join(dir, 'state', 'default')], env);
    assert.equal(s.model, path.join('models', 'fp32', 'sfn-lite-ped2.onnx'));
    const r = (await cliJson(['eval', '--online', '--dataset', data, '--normal', path.join(data, 'training', 'frames'), '--providers', 'cpu', '--json'], env)) as { online: { model: string } };
    assert.equal(r.online.model, path.join('models', 'fp32', 'sfn-lite-ped2.onnx'));
  });
});
