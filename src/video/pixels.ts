/**
 * Pixel-layout helpers shared by the sources: 8-bit interleaved `[H, W, C]` (what decoders emit) to
 * the project's planar float `[C, H, W]` in [0, 1], and frame-spec validation.
 */
import { COLOR_MODES, channelsOf, type FrameSpec } from '../core/frame.js';

/** `LUT[v] = v / 255` as float32, so conversion is one table load per sample. */
const LUT = new Float32Array(256);
for (let v = 0; v < 256; v++) LUT[v] = v / 255;

/**
 * Converts 8-bit interleaved pixels to planar float.
 *
 * @param raw `[H, W, C]` interleaved bytes (length `width * height * channels`, 0..255).
 * @param width frame width W in pixels.
 * @param height frame height H in pixels.
 * @param channels C (1 or 3).
 * @returns new `Float32Array` of length `C * H * W`, layout `[C, H, W]`, values `v / 255` in [0, 1].
 * @throws RangeError when `raw` is shorter than `width * height * channels`.
 */
export function interleavedToPlanar(raw: Uint8Array, width: number, height: number, channels: number): Float32Array {
  const plane = width * height;
  const n = plane * channels;
  if (raw.length < n) throw new RangeError(`pixel buffer has ${raw.length} bytes, expected ${n}`);
  const out = new Float32Array(n);
  if (channels === 1) {
    for (let i = 0; i < plane; i++) out[i] = LUT[raw[i] as number] as number;
  } else {
    for (let c = 0; c < channels; c++) {
      const base = c * plane;
      for (let i = 0, j = c; i < plane; i++, j += channels) out[base + i] = LUT[raw[j] as number] as number;
    }
  }
  return out;
}

/**
 * Checks a `FrameSpec`: width and height positive integers (at most 16384), color `gray` or `rgb`.
 *
 * @throws RangeError describing the bad field (a programming/config error, not bad video input).
 */
export function validateSpec(spec: FrameSpec): void {
  for (const key of ['width', 'height'] as const) {
    const v = spec[key];
    if (!Number.isInteger(v) || v < 1 || v > 16384) {
      throw new RangeError(`FrameSpec.${key} must be an integer in 1..16384, got ${String(v)}`);
    }
  }
  if (!COLOR_MODES.includes(spec.color)) {
    throw new RangeError(`FrameSpec.color must be one of ${COLOR_MODES.join(', ')}, got ${String(spec.color)}`);
  }
}

/** Bytes of one 8-bit interleaved frame for a spec: `width * height * C`. */
export function frameBytes(spec: FrameSpec): number {
  return spec.width * spec.height * channelsOf(spec.color);
}
