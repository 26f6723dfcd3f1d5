import assert from 'node:assert/strict';
import { test } from 'node:test';

import { COCO_LABELS } from '../../src/caption/coco.js';
import { cosine, embedCaption, TEXT_DIM } from '../../src/caption/embed.js';
import { boxMotion } from '../../src/caption/motion.js';

test('embedCaption: class slots hold log(1 + summed scores), motion slots per coarse group and speed state', () => {
  assert.equal(TEXT_DIM, 92);
  const e = embedCaption([
    { label: 'person', score: 0.5, box: [0, 0, 0.1, 0.1], motion: { dx: 1, dy: 0, relSpeed: 0.03, state: 'walking pace', direction: 'right' } },
    { label: 'person', score: 0.3, box: [0, 0, 0.1, 0.1] },
    { label: 'bicycle', score: 0.4, box: [0, 0, 0.1, 0.1], motion: { dx: 5, dy: 0, relSpeed: 0.12, state: 'fast', direction: 'right' } },
    { label: 'car', score: 0.1, box: [0, 0, 0.1, 0.1] }, // below minScore: ignored
  ]);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
  close(e[COCO_LABELS.indexOf('person')]!, Math.log1p(0.8));
  close(e[COCO_LABELS.indexOf('bicycle')]!, Math.log1p(0.4));
  assert.equal(e[COCO_LABELS.indexOf('car')], 0);
  close(e[80 + 0 * 3 + 0]!, Math.log1p(0.3)); // person, still (no motion known)
  close(e[80 + 0 * 3 + 1]!, Math.log1p(0.5)); // person, walking pace
  close(e[80 + 1 * 3 + 2]!, Math.log1p(0.4)); // rider group, fast
  assert.equal(embedCaption([]).every((v) => v === 0), true);
});

test('cosine: 1 for parallel, 0 for orthogonal or a zero vector, length mismatch throws', () => {
  assert.ok(Math.abs(cosine([1, 2], [2, 4]) - 1) < 1e-12);
  assert.equal(cosine([1, 0], [0, 1]), 0);
  assert.equal(cosine([0, 0], [1, 1]), 0);
  assert.throws(() => cosine([1], [1, 2]), /length/);
});

function frameWithSquare(W: number, H: number, x: number, y: number): Float32Array {
  const f = new Float32Array(W * H).fill(0.2);
  for (let r = 0; r < 12; r++) for (let c = 0; c < 8; c++) f[(y + r) * W + x + c] = 0.9 - 0.02 * c - 0.01 * r;
  return f;
}

test('boxMotion recovers a known shift: speed, state and direction', () => {
  const W = 64;
  const H = 48;
  const prev = frameWithSquare(W, H, 20, 18);
  const right = boxMotion(prev, frameWithSquare(W, H, 23, 18), W, H, [23 / W, 18 / H, 8 / W, 12 / H]);
  assert.equal(right.dx, 3);
  assert.equal(right.dy, 0);
  assert.equal(right.direction, 'right');
  assert.equal(right.state, 'fast'); // 3 px / 12 px box height = 0.25 heights per frame
  const up = boxMotion(prev, frameWithSquare(W, H, 20, 17), W, H, [20 / W, 17 / H, 8 / W, 12 / H], { gap: 2 });
  assert.equal(up.dy, -0.5);
  assert.equal(up.direction, 'up');
  const still = boxMotion(prev, prev, W, H, [20 / W, 18 / H, 8 / W, 12 / H]);
  assert.deepEqual([still.dx, still.dy, still.state, still.direction], [0, 0, 'still', 'none']);
  assert.throws(() => boxMotion(prev, new Float32Array(10), W, H, [0, 0, 1, 1]), RangeError);
});
