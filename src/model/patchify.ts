/**
 * Frames <-> token layout. The network sees a clip as N = (H/P)(W/P) tokens, row-major over the
 * patch grid; a token of frames f = 0..F-1 is the vector indexed [f, c, py, px] (frame-major, then
 * channel, then the P x P pixels row-major) — the same order the ONNX graph's Reshape/Transpose
 * produce from `[n, F*C, H, W]` input, which the parity test checks.
 */

/** Geometry of a clip: C channels, H x W pixels, patch P. */
export interface Grid {
  channels: number;
  height: number;
  width: number;
  patch: number;
}

/**
 * Writes frames `[C, H, W]` (each a Float32Array in [0,1]) into token rows:
 * `out[(rowOffset + token) * F*C*P*P + f*C*P*P + c*P*P + py*P + px]`, F = frames.length.
 * With `diff` set, writes frames[f+1] - frames[f] (F-1 blocks) instead.
 * Throws if a frame's length is not C*H*W (a frame of the wrong size).
 */
export function patchifyInto(frames: Float32Array[], g: Grid, out: Float32Array, rowOffset: number, diff = false): void {
  const { channels: C, height: H, width: W, patch: P } = g;
  const hp = H / P;
  const wp = W / P;
  const pp = P * P;
  const F = diff ? frames.length - 1 : frames.length;
  const tokenLen = F * C * pp;
  for (const [i, f] of frames.entries()) {
    if (f.length !== C * H * W) throw new Error(`frame ${i} has ${f.length} values, expected C*H*W = ${C}*${H}*${W} = ${C * H * W}`);
  }
  for (let f = 0; f < F; f++) {
    const a = frames[diff ? f + 1 : f]!;
    const b = diff ? frames[f]! : null;
    for (let c = 0; c < C; c++) {
      for (let ty = 0; ty < hp; ty++) {
        for (let tx = 0; tx < wp; tx++) {
          const base = (rowOffset + ty * wp + tx) * tokenLen + (f * C + c) * pp;
          for (let py = 0; py < P; py++) {
            const src = c * H * W + (ty * P + py) * W + tx * P;
            const dst = base + py * P;
            if (b) for (let px = 0; px < P; px++) out[dst + px] = a[src + px]! - b[src + px]!;
            else for (let px = 0; px < P; px++) out[dst + px] = a[src + px]!;
          }
        }
      }
    }
  }
}

/** Inverse of `patchifyInto` for one frame: token rows `[N, C*P*P]` (from rowOffset) -> `[C, H, W]`. */
export function unpatchify(tokens: Float32Array, g: Grid, rowOffset = 0): Float32Array {
  const { channels: C, height: H, width: W, patch: P } = g;
  const wp = W / P;
  const hp = H / P;
  const pp = P * P;
  const out = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++)
    for (let ty = 0; ty < hp; ty++)
      for (let tx = 0; tx < wp; tx++) {
        const base = (rowOffset + ty * wp + tx) * C * pp + c * pp;
        for (let py = 0; py < P; py++) {
          const dst = c * H * W + (ty * P + py) * W + tx * P;
          for (let px = 0; px < P; px++) out[dst + px] = tokens[base + py * P + px]!;
        }
      }
  return out;
}

/** Token-row buffers of a batch (see `TokenBatch` in sfn.ts). */
export interface TokenRows {
  appearance: Float32Array;
  motion: Float32Array;
  last: Float32Array;
}

/**
 * Writes one clip's network inputs at token row `row`: the past frames (appearance), their
 * differences (motion) and the last past frame, each `[C, H, W]` in [0, 1].
 */
export function patchifyClip(past: Float32Array[], g: Grid, out: TokenRows, row: number): void {
  patchifyInto(past, g, out.appearance, row);
  patchifyInto(past, g, out.motion, row, true);
  patchifyInto([past[past.length - 1]!], g, out.last, row);
}
