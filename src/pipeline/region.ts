/**
 * The anomaly region of a scored frame: the model-grid window where the prediction error is
 * largest (the window the patch-max score comes from). The live view draws it, the event captions
 * describe it; the scored-frame record (record.ts) computes it once for both.
 */
import type { FrameSpec } from '../core/frame.js';

/** A rectangle on the model grid, in pixels. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * The model-grid window (side `patch` px, stride `patch`) where the prediction error is largest:
 * the window the patch-max score comes from.
 * @param pred, target `[C, H, W]` float32 of the same length.
 * @throws RangeError on a length mismatch.
 */
export function anomalyRegion(pred: Float32Array, target: Float32Array, spec: FrameSpec, patch = 16): Box {
  if (pred.length !== target.length) throw new RangeError(`prediction has ${pred.length} values, the frame ${target.length}`);
  const C = pred.length / (spec.width * spec.height);
  const p = Math.max(1, Math.min(patch, spec.width, spec.height));
  const hw = spec.width * spec.height;
  let best: Box = { x: 0, y: 0, w: p, h: p };
  let bestErr = -1;
  for (let y0 = 0; y0 + p <= spec.height; y0 += p) {
    for (let x0 = 0; x0 + p <= spec.width; x0 += p) {
      let s = 0;
      for (let c = 0; c < C; c++) {
        for (let y = y0; y < y0 + p; y++) {
          for (let x = x0; x < x0 + p; x++) {
            const d = (pred[c * hw + y * spec.width + x] as number) - (target[c * hw + y * spec.width + x] as number);
            s += d * d;
          }
        }
      }
      if (s > bestErr) {
        bestErr = s;
        best = { x: x0, y: y0, w: p, h: p };
      }
    }
  }
  return best;
}

