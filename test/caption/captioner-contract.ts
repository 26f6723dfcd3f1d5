/**
 * The contract every captioner keeps (src/caption/captioner.ts `Captioner`), run by each
 * implementation from captioner-contract.test.ts, as test/mqtt's outbox stores run one store
 * contract:
 *
 * - a frame `[C, H, W]` float32 in [0, 1] (with or without the previous frame) gives a non-empty
 *   caption, its structured form, a finite TEXT_DIM text feature, `ms` >= 0 and the captioner's own
 *   name;
 * - the same request twice gives the same caption and feature (events must be reproducible);
 * - a frame of the wrong size, or a previous frame of another size, rejects with a RangeError;
 * - after `close()` a call rejects instead of hanging, and `close()` may be called twice.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';

import type { Captioner } from '../../src/caption/captioner.js';
import { TEXT_DIM } from '../../src/caption/embed.js';

/** One frame of a scene and the one before it, planar `[C, H, W]` float32 in [0, 1]. */
export interface ContractFrames {
  frame: Float32Array;
  prev: Float32Array;
  width: number;
  height: number;
}

/**
 * Registers the contract's tests for one implementation. `make` returns a fresh, started
 * captioner; each test closes its own.
 */
export function captionerContract(label: string, make: () => Promise<Captioner>, frames: () => ContractFrames): void {
  it(`${label}: describes a frame with a caption, its structure and a TEXT_DIM feature`, async () => {
    const c = await make();
    try {
      const f = frames();
      for (const req of [{ frame: f.frame, prev: f.prev, width: f.width, height: f.height }, { frame: f.frame, width: f.width, height: f.height }]) {
        const r = await c.caption(req);
        assert.equal(typeof r.text, 'string');
        assert.ok(r.text.length > 0, 'a caption');
        assert.equal(r.text, r.structured.text, 'the text is the structured caption');
        assert.ok(Array.isArray(r.structured.objects));
        assert.ok(r.embedding instanceof Float32Array && r.embedding.length === TEXT_DIM, `a ${TEXT_DIM}-value feature`);
        assert.ok(r.embedding.every(Number.isFinite));
        assert.ok(r.ms >= 0);
        assert.equal(r.captioner, c.name.replace(/^worker:/, ''), 'the result names the captioner that made it');
      }
    } finally {
      await c.close();
    }
  });

  it(`${label}: the same request gives the same caption and feature`, async () => {
    const c = await make();
    try {
      const f = frames();
      const req = { frame: f.frame, prev: f.prev, width: f.width, height: f.height };
      const a = await c.caption(req);
      const b = await c.caption(req);
      assert.equal(a.text, b.text);
      assert.deepEqual([...a.embedding], [...b.embedding]);
    } finally {
      await c.close();
    }
  });

  it(`${label}: frames of the wrong size reject with a RangeError`, async () => {
    const c = await make();
    try {
      const f = frames();
      await assert.rejects(c.caption({ frame: f.frame.subarray(0, f.frame.length - 5), width: f.width, height: f.height }), RangeError);
      await assert.rejects(c.caption({ frame: f.frame, prev: f.prev.subarray(1), width: f.width, height: f.height }), RangeError);
      // and it still captions afterwards
      assert.ok((await c.caption({ frame: f.frame, width: f.width, height: f.height })).text.length > 0);
    } finally {
      await c.close();
    }
  });

  it(`${label}: after close a call rejects, and close may be called twice`, async () => {
    const c = await make();
    await c.close();
    const f = frames();
    await assert.rejects(c.caption({ frame: f.frame, width: f.width, height: f.height }));
    await c.close();
  });
}
