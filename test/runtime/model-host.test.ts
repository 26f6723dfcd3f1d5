/**
 * The model host (src/runtime/model-host.ts): cameras on the same model file share one ONNX
 * Runtime session (by absolute path), released by reference count; a model slot stages a swap and
 * refuses one with another grid. Real sessions on the committed Ped2 model.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ModelHost, ModelSlot } from '../../src/runtime/model-host.js';

const MODEL = 'models/fp32/sfn-lite-ped2.onnx';
/** another model on the same grid */
const OTHER = 'models/fp32/sfn-lite-ped2-sem.onnx';

describe('model host', { skip: !(existsSync(MODEL) && existsSync(OTHER)) && 'the fp32 models are not available' }, () => {
  it('one session per model file, shared and reference-counted', async () => {
    const host = new ModelHost({ profile: null, providers: ['cpu'], batchSize: 1 });
    await host.start();
    const [a, b] = await Promise.all([host.acquire(MODEL), host.acquire(path.resolve(MODEL))]);
    const c = await host.acquire(`./${MODEL}`);
    assert.equal(a, b);
    assert.equal(a, c);
    assert.equal(host.loads, 1);
    assert.deepEqual(host.open, [path.resolve(MODEL)]);
    await host.release(a);
    await host.release(b);
    assert.equal(host.open.length, 1, 'still held by one camera');
    await host.release(c);
    assert.deepEqual(host.open, []);
    await assert.rejects(host.acquire('models/none.onnx'));
    assert.deepEqual(host.open, [], 'a model that fails to load is not kept');
    await host.stop();
  });

  it('a slot stages the same file without a second session, swaps it in, and refuses another grid', async () => {
    const host = new ModelHost({ profile: null, providers: ['cpu'], batchSize: 1 });
    const one = await ModelSlot.open(host, MODEL);
    const two = await ModelSlot.open(host, MODEL);
    assert.equal(one.predictor, two.predictor);
    await one.stage(MODEL, one.predictor.spec);
    assert.equal(one.pending, false, 'the model in use, nothing staged');
    await assert.rejects(one.stage(OTHER, { ...one.predictor.spec, width: 8 }), /only variants with the same grid/);
    assert.equal(host.open.length, 1, 'the refused model is given back');
    await assert.rejects(one.stage('models/none.onnx', one.predictor.spec), /model: cannot load/);
    await one.stage(OTHER, one.predictor.spec);
    assert.equal(one.pending, true);
    assert.equal(await one.swap(), true);
    assert.equal(one.file, OTHER);
    assert.notEqual(one.predictor, two.predictor);
    await one.close();
    assert.deepEqual(host.open, [path.resolve(MODEL)]);
    await two.close();
    assert.deepEqual(host.open, []);
  });
});
