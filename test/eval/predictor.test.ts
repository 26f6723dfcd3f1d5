import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CONTEXT_FRAMES, CopyLastPredictor } from '../../src/core/predictor.js';

describe('CopyLastPredictor', () => {
  it('returns the last of the 4 input frames of each clip', async () => {
    const p = new CopyLastPredictor({ width: 2, height: 1, color: 'rgb' }, 8);
    assert.equal(p.name, 'copy-last');
    assert.equal(p.batchSize, 8);
    const frame = 3 * 1 * 2;
    const n = 2;
    // clip i, frame j, value v -> 100*i + 10*j + v
    const clips = new Float32Array(n * CONTEXT_FRAMES * frame);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < CONTEXT_FRAMES; j++)
        for (let v = 0; v < frame; v++) clips[(i * CONTEXT_FRAMES + j) * frame + v] = 100 * i + 10 * j + v;
    const out = await p.predict(clips, n);
    assert.deepEqual([...out], [30, 31, 32, 33, 34, 35, 130, 131, 132, 133, 134, 135]);
    // Reads only the first n clips of a longer buffer.
    assert.deepEqual([...(await p.predict(clips, 1))], [30, 31, 32, 33, 34, 35]);
    await assert.rejects(p.predict(clips, 3), /need 3/);
  });
});

describe('eval picks its predictor', () => {
  it('with no --model, --weights or --baseline: the model run would use; several: refused', async () => {
    const { predictorFor } = await import('../../src/eval/command.js');
    const { defaultModel } = await import('../../src/core/default-model.js');
    const p = await predictorFor({ dataset: 'unused', size: '144x96', providers: 'cpu' } as Parameters<typeof predictorFor>[0]);
    try {
      assert.equal(p.name, (await import('node:path')).basename(await defaultModel(), '.onnx'));
    } finally {
      await (p as { dispose?: () => Promise<void> }).dispose?.();
    }
    await assert.rejects(predictorFor({ dataset: 'unused', size: '144x96', model: 'a.onnx', baseline: 'copy-last' } as Parameters<typeof predictorFor>[0]), /give only one of --model/);
  });
});
