/**
 * Speed and direction of a detected object from the frame difference inside its box: the box's
 * pixels in the current frame are matched against the previous frame over a small search window
 * (sum of absolute differences, the classic block-matching motion estimate); the best offset is the
 * object's displacement. Cheap (a few hundred thousand operations per box) and needs no model.
 */
import type { Box } from './detector.js';

/** Motion states used in captions and in the text embedding. */
export const SPEED_STATES = ['still', 'walking pace', 'fast'] as const;
export type SpeedState = (typeof SPEED_STATES)[number];

/** Image-plane directions ("up" is away from a typical elevated camera). */
export const DIRECTIONS = ['none', 'right', 'left', 'up', 'down'] as const;
export type Direction = (typeof DIRECTIONS)[number];

/** The estimated motion of one box. */
export interface BoxMotion {
  /** displacement in pixels per frame at the frame's resolution (+x right, +y down) */
  dx: number;
  dy: number;
  /** speed in box heights per frame (scale-free: a walker far away and near move alike) */
  relSpeed: number;
  state: SpeedState;
  direction: Direction;
}

/** Thresholds on `relSpeed` (box heights per frame). Chosen on Ped2 *training* video (10 fps,
 * normal walkers move 0.02-0.06 heights per frame, cyclists about 0.08-0.15); scale them by 10 / fps for other frame rates. */
export const SPEED_THRESHOLDS = { still: 0.01, fast: 0.075 } as const;

/** Options of {@link boxMotion}. */
export interface MotionOptions {
  /** search radius in pixels (default 8) */
  radius?: number;
  /** frames between `prev` and `cur` (default 1); the displacement is divided by it */
  gap?: number;
  /** scale of the speed thresholds, e.g. 10 / fps (default 1) */
  thresholdScale?: number;
}

/**
 * Estimates the motion of the object in `box` from `prev` to `cur`.
 * @param prev previous frame, planar `[C, H, W]` float32 in [0, 1] (the first plane is used)
 * @param cur current frame, same layout and size
 * @param width W, `height` H in pixels
 * @param box normalised `[x, y, w, h]` of the object in `cur`
 * @throws RangeError when the frames differ in size or are not `C * H * W` long
 */
export function boxMotion(prev: Float32Array, cur: Float32Array, width: number, height: number, box: Box, opts: MotionOptions = {}): BoxMotion {
  if (prev.length !== cur.length || cur.length % (width * height) !== 0)
    throw new RangeError(`frames of ${prev.length} and ${cur.length} values do not match a ${width}x${height} grid`);
  const R = opts.radius ?? 8;
  const gap = opts.gap ?? 1;
  const x0 = Math.max(0, Math.floor(box[0] * width));
  const y0 = Math.max(0, Math.floor(box[1] * height));
  const x1 = Math.min(width, Math.ceil((box[0] + box[2]) * width));
  const y1 = Math.min(height, Math.ceil((box[1] + box[3]) * height));
  const bh = Math.max(1, y1 - y0);
  const step = Math.max(1, Math.floor(Math.min(x1 - x0, bh) / 16));
  let best = Infinity;
  let bx = 0;
  let by = 0;
  for (let oy = -R; oy <= R; oy++) {
    for (let ox = -R; ox <= R; ox++) {
      let sad = 0;
      let n = 0;
      for (let y = y0; y < y1; y += step) {
        const py = y + oy;
        if (py < 0 || py >= height) continue;
        for (let x = x0; x < x1; x += step) {
          const px = x + ox;
          if (px < 0 || px >= width) continue;
          sad += Math.abs(cur[y * width + x]! - prev[py * width + px]!);
          n++;
        }
      }
      if (n === 0) continue;
      const cost = sad / n + 1e-4 * (ox * ox + oy * oy); // prefer the smaller offset on ties
      if (cost < best) {
        best = cost;
        bx = ox;
        by = oy;
      }
    }
  }
  // the object was at (x + bx, y + by) in prev: it moved by (-bx, -by)
  const dx = (0 - bx) / gap; // 0 - 0 is +0 (avoids -0)
  const dy = (0 - by) / gap;
  const relSpeed = Math.hypot(dx, dy) / bh;
  const k = opts.thresholdScale ?? 1;
  const state: SpeedState = relSpeed < SPEED_THRESHOLDS.still * k ? 'still' : relSpeed < SPEED_THRESHOLDS.fast * k ? 'walking pace' : 'fast';
  const direction: Direction = state === 'still' ? 'none' : Math.abs(dx) >= Math.abs(dy) ? (dx > 0 ? 'right' : 'left') : dy > 0 ? 'down' : 'up';
  return { dx, dy, relSpeed, state, direction };
}
