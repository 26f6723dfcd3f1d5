/**
 * The frame-source seam: every input (image-sequence folder, video file, later RTSP/V4L2) yields
 * frames in one layout so that the model, scoring and events never care where pixels came from.
 *
 * Frame layout: `Float32Array` of length `C * H * W`, planar `[C, H, W]` (channel-major), values in
 * [0, 1]; C = 1 for `gray`, C = 3 for `rgb` (R, G, B planes). H and W are the model's grid (from its
 * manifest), not the source's native size: sources resize (bilinear) on the way in.
 */

/** Colour mode of frames handed to the model. */
export const COLOR_MODES = ['gray', 'rgb'] as const;
export type ColorMode = (typeof COLOR_MODES)[number];

/** The grid frames are delivered at. width/height in pixels. */
export interface FrameSpec {
  width: number;
  height: number;
  color: ColorMode;
}

/** Number of channels C for a colour mode. */
export function channelsOf(color: ColorMode): number {
  return color === 'gray' ? 1 : 3;
}

/** One decoded frame. `index` is 0-based in source order; `data` is `[C, H, W]` float32 in [0, 1]. */
export interface Frame {
  index: number;
  data: Float32Array;
}

/** A finite or live stream of frames. */
export interface FrameSource {
  /** Human-readable name (path or URL) used in logs and error messages. */
  readonly name: string;
  readonly spec: FrameSpec;
  /** Frames in order. Throws `VideoInputError` naming the file and the problem on bad input. */
  frames(): AsyncIterable<Frame>;
  /** Releases decoders / child processes. Safe to call twice. */
  close(): Promise<void>;
}
