/**
 * Per-frame error for the online scorer: both the patch-max MSE (the event score by default: a small
 * anomalous object lights up a few windows) and the whole-frame MSE (reported alongside).
 */
import { frameMse, patchMaxMse, type ErrorMeasure } from '../scoring/error.js';
import { channelsOf, type FrameSpec } from '../core/frame.js';

/** Patch-max window side and stride, in pixels of the model grid (16 px on the 144x96 Ped2 grid). */
export const DEFAULT_PATCH = 16;

/** Both error measures of one frame, in (value units)² for [0, 1] frames. */
export interface FrameError {
  mse: number;
  patchMax: number;
}

/**
 * Errors of one predicted frame against the actual frame.
 * @param pred `[C, H, W]` float32 prediction; @param target `[C, H, W]` float32 actual frame.
 * @param spec the model grid (C from the colour mode).
 * @param patch window side (px), clamped to the grid; @param stride window step (px).
 * @throws Error on length mismatches (see scoring/error.ts).
 */
export function frameError(pred: Float32Array, target: Float32Array, spec: FrameSpec, patch = DEFAULT_PATCH, stride = patch): FrameError {
  const C = channelsOf(spec.color);
  return { mse: frameMse(pred, target), patchMax: patchMaxMse(pred, target, C, spec.height, spec.width, patch, stride) };
}

/** Picks the measure the detector uses. */
export function pickError(e: FrameError, measure: ErrorMeasure): number {
  return measure === 'mse' ? e.mse : e.patchMax;
}
