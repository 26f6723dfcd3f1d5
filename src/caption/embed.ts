/**
 * The text encoder of the semantic branch: a deterministic embedding of the structured caption
 * (docs/design.md "Captioner and text encoder"; issue 5 allows "a deterministic embedding of the structured caption").
 * Why not a sentence-embedding model: the captions are generated from a closed vocabulary (80 COCO
 * classes, 3 speed states, 4 directions), so a fixed embedding carries all their information,
 * costs microseconds, needs no model file, and is identical on every device.
 *
 * Layout (`TEXT_DIM` = 92 float32):
 *   [0, 80)   per COCO class c: log(1 + sum of the scores of the detections of class c)
 *   [80, 92)  per coarse group g (person, rider, vehicle, other) x speed state s (still, walking
 *             pace, fast): log(1 + sum of scores of the group's objects in state s), at 80 + 3g + s
 * Detections below `minScore` are ignored. Cosine similarity compares two embeddings (scale-free).
 */
import { COARSE_GROUPS, COCO_LABELS, coarseGroup } from './coco.js';
import type { CaptionObject } from './describe.js';
import { SPEED_STATES } from './motion.js';

/** Width of the text feature. */
export const TEXT_DIM = COCO_LABELS.length + COARSE_GROUPS.length * SPEED_STATES.length;

const CLASS_INDEX = new Map<string, number>(COCO_LABELS.map((l, i) => [l, i]));

/**
 * Embeds a caption's objects.
 * @returns `Float32Array` of length `TEXT_DIM` (see the layout above); all zeros when nothing was detected.
 */
export function embedCaption(objects: readonly CaptionObject[], minScore = 0.2): Float32Array {
  const e = new Float32Array(TEXT_DIM);
  for (const o of objects) {
    if (o.score < minScore) continue;
    const c = CLASS_INDEX.get(o.label);
    if (c !== undefined) e[c]! += o.score;
    const g = COARSE_GROUPS.indexOf(coarseGroup(o.label));
    const s = SPEED_STATES.indexOf(o.motion?.state ?? 'still');
    e[COCO_LABELS.length + g * SPEED_STATES.length + s]! += o.score;
  }
  for (let i = 0; i < e.length; i++) e[i] = Math.log1p(e[i]!);
  return e;
}

/** Cosine similarity of two equal-length vectors; 0 when either is all zeros. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`vectors of length ${a.length} and ${b.length}`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}
