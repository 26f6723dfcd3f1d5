/**
 * The contract every frame source keeps (src/core/frame.ts `FrameSource`), run by each
 * implementation from source-contract.test.ts, as the outbox stores run one store contract:
 *
 * - `name` names the input and `spec` is the grid asked for;
 * - frames come in source order with indices 0, 1, 2, ..., each `[C, H, W]` float32 in [0, 1]
 *   (C = 1 for gray, 3 for rgb), and the content moves from frame to frame;
 * - a consumer may stop early: `close()` then resolves, may be called twice, and a closed source
 *   yields nothing more;
 * - damaged input fails with a VideoInputError whose message starts with the input's name, after
 *   the frames read before the damage.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';

import { channelsOf, type FrameSource, type FrameSpec } from '../../src/core/frame.js';
import { VideoInputError } from '../../src/video/errors.js';
import { drain } from './fixtures.js';

/** How one implementation is made for the contract. */
export interface SourceFactory {
  /** a source over the good input (at least 8 frames) at `spec` */
  open(spec: FrameSpec): Promise<FrameSource>;
  /** a source over damaged input, or null when the implementation has none to test */
  damaged: (() => Promise<FrameSource>) | null;
}

const SPECS: FrameSpec[] = [
  { width: 48, height: 32, color: 'gray' },
  { width: 40, height: 24, color: 'rgb' },
];

/** Registers the contract's tests for one implementation. */
export function sourceContract(label: string, f: SourceFactory): void {
  for (const spec of SPECS) {
    it(`${label}: frames in order at ${spec.width}x${spec.height} ${spec.color}, [C, H, W] in [0, 1], moving`, async () => {
      const s = await f.open(spec);
      try {
        assert.ok(s.name.length > 0, 'named');
        assert.deepEqual(s.spec, spec);
        const { frames, error } = await drain(s);
        assert.equal(error, undefined, `read to the end: ${String(error)}`);
        assert.ok(frames.length >= 8, `${frames.length} frames`);
        assert.deepEqual(frames.map((x) => x.index), [...frames.keys()], 'indices 0, 1, 2, ...');
        const n = channelsOf(spec.color) * spec.width * spec.height;
        for (const x of frames) {
          assert.ok(x.data instanceof Float32Array && x.data.length === n, `${x.data.length} values, expected ${n}`);
          assert.ok(x.data.every((v) => v >= 0 && v <= 1), 'values in [0, 1]');
        }
        const moved = frames.slice(1).filter((x, i) => x.data.some((v, j) => v !== frames[i]!.data[j])).length;
        assert.ok(moved >= frames.length / 2, `content moves (${moved} of ${frames.length - 1} frames differ from the one before)`);
      } finally {
        await s.close();
      }
    });
  }

  it(`${label}: stopping early, close() resolves, twice, and the source yields nothing more`, async () => {
    const s = await f.open(SPECS[0]!);
    let n = 0;
    for await (const _ of s.frames()) if (++n === 3) break;
    assert.equal(n, 3);
    await s.close();
    await s.close();
    const { frames } = await drain(s);
    assert.ok(frames.length === 0 || frames[0]!.index === 0, 'a closed source yields nothing, or restarts from frame 0');
  });

  if (f.damaged) {
    const damaged = f.damaged;
    it(`${label}: damaged input fails with a VideoInputError that names it`, async () => {
      let s: FrameSource | undefined;
      let err: unknown;
      try {
        s = await damaged();
        err = (await drain(s)).error;
      } catch (e) {
        err = e;
      } finally {
        await s?.close();
      }
      assert.ok(err instanceof VideoInputError, `expected a VideoInputError, got ${String(err)}`);
      assert.ok(err.message.startsWith(`${err.file}: `), err.message);
      assert.ok(err.hint.length > 0, 'says what to do');
    });
  }
}
