import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSession, missingProviderLibrary, ModelLoadError } from '../../src/inference/session.js';
import { quietExport, TINY, tinyWeights, tmpDir } from '../export/fixtures.js';

/** True when onnxruntime-node has its CUDA provider library (then CUDA may really start). */
const cpuOnly = (await missingProviderLibrary('cuda')) !== null;

describe('createSession', () => {
  let dir: string;
  let model: string;
  before(async () => {
    dir = await tmpDir('session');
    const { base } = await tinyWeights(dir, TINY);
    model = path.join(dir, 'm.onnx');
    await quietExport({ weights: base, out: model });
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  it('opens on the CPU and reports it; intra-op threads option', async () => {
    const s = await createSession(model, { providers: ['cpu'], intraOpThreads: 1 });
    assert.equal(s.provider, 'cpu');
    assert.deepEqual(s.skipped, []);
    assert.deepEqual(s.session.inputNames, ['frames']);
    assert.deepEqual(s.session.outputNames, ['pred']);
    await s.session.release();
  });

  it('falls back cuda -> cpu on a CPU-only host', { skip: cpuOnly ? false : 'CUDA provider installed' }, async () => {
    const s = await createSession(model, { providers: ['cuda', 'cpu'] });
    assert.equal(s.provider, 'cpu');
    assert.deepEqual(s.skipped.map((x) => x.provider), ['cuda']);
    assert.match(s.skipped[0]!.reason, /providers_cuda\.so not found|Cuda|CUDA|shared library/);
    await s.session.release();
  });

  it('falls back tensorrt -> cuda -> cpu on a CPU-only host', { skip: cpuOnly ? false : 'CUDA provider installed' }, async () => {
    const s = await createSession(model, { providers: ['tensorrt', 'cuda', 'cpu'] });
    assert.equal(s.provider, 'cpu');
    assert.deepEqual(s.skipped.map((x) => x.provider), ['tensorrt', 'cuda']);
    await s.session.release();
  });

  it('fails listing every reason when no provider starts', { skip: cpuOnly ? false : 'CUDA provider installed' }, async () => {
    await assert.rejects(createSession(model, { providers: ['cuda'] }), /no execution provider could start for .*m\.onnx: cuda: /);
  });

  it('knows without asking ONNX Runtime when a GPU provider library is absent', { skip: cpuOnly ? false : 'CUDA provider installed' }, async () => {
    assert.equal(await missingProviderLibrary('cpu'), null);
    assert.match((await missingProviderLibrary('cuda')) ?? '', /libonnxruntime_providers_cuda\.so not found beside onnxruntime-node's binding/);
    assert.match((await missingProviderLibrary('tensorrt')) ?? '', /libonnxruntime_providers_tensorrt\.so/);
  });

  it('rejects unknown provider names and an empty list', async () => {
    await assert.rejects(createSession(model, { providers: ['gpu' as 'cuda'] }), /unknown execution provider 'gpu'; known: tensorrt, cuda, cpu/);
    await assert.rejects(createSession(model, { providers: [] }), /no execution provider given/);
  });

  it('missing file', async () => {
    const p = path.join(dir, 'missing.onnx');
    await assert.rejects(createSession(p, { providers: ['cpu'] }), (e: Error) => e instanceof ModelLoadError && e.message === `model file ${p} not found`);
  });

  it('truncated model: names the file and what to do, also behind a failing provider', async () => {
    const p = path.join(dir, 'truncated.onnx');
    const bytes = await fs.readFile(model);
    await fs.writeFile(p, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const msg = /cannot load ONNX model .*truncated\.onnx: it is not a valid ONNX model, or it is truncated \(.*\); re-export it with 'sfn-edge export' or restore the file/;
    await assert.rejects(createSession(p, { providers: ['cpu'] }), msg);
    await assert.rejects(createSession(p, { providers: ['cuda', 'cpu'] }), msg);
  });

  it('not an ONNX file, and an empty file', async () => {
    const p = path.join(dir, 'notes.onnx');
    await fs.writeFile(p, 'this is a text file, not a model\n');
    await assert.rejects(createSession(p, { providers: ['cpu'] }), (e: Error) => e instanceof ModelLoadError && /notes\.onnx: it is not a valid ONNX model/.test(e.message));
    const empty = path.join(dir, 'empty.onnx');
    await fs.writeFile(empty, '');
    await assert.rejects(createSession(empty, { providers: ['cpu'] }), /model file .*empty\.onnx is empty; re-export it/);
    await assert.rejects(createSession(dir, { providers: ['cpu'] }), /is not a file/);
  });
});
