/**
 * The normal-video split of the learn-normal recipe. A new camera has no labels, so everything the
 * recipe decides after training (checkpoint, calibration, false-alarm check) is decided on normal
 * video that training never saw. Each video is split in time, so a camera with a single recording
 * works too:
 *
 *   frames [0, trainEnd)        train       the optimiser sees these
 *   frames [trainEnd, calibEnd) calibration checkpoint rule, error statistics, threshold
 *   frames [calibEnd, n)        check       false events per hour; never used to set anything
 *
 * Clips (4 past frames + the target) never straddle a boundary: each part yields clips whose five
 * frames all lie inside it. Parts are the tail of each video, so the held-back video is later in
 * time than what was learnt (as the device will see it).
 */

/** The three parts of the split (`all` = no split: every frame, as before the recipe). */
export const SPLIT_PARTS = ['train', 'calibration', 'check', 'all'] as const;
export type SplitPart = (typeof SPLIT_PARTS)[number];

/** Fractions of each video's frames held back, from the end: check last, calibration before it. */
export interface SplitSpec {
  /** share of each video's frames held back for calibration (default 0.15) */
  calibration: number;
  /** share of each video's frames held back for the false-alarm check (default 0.10) */
  check: number;
}

export const DEFAULT_SPLIT: SplitSpec = { calibration: 0.15, check: 0.1 };

/** Frame ranges `[start, end)` of one video's parts. */
export interface VideoSplit {
  train: [number, number];
  calibration: [number, number];
  check: [number, number];
  all: [number, number];
}

/**
 * Splits a video of `frames` frames. Each held-back part gets at least `minPart` frames (default
 * 5: one clip) when the video is long enough for train to keep 5 too; shorter videos go wholly to
 * train. Throws on a negative or non-integer frame count or on fractions outside [0, 0.9).
 */
export function splitVideo(frames: number, spec: SplitSpec = DEFAULT_SPLIT, minPart = 5): VideoSplit {
  if (!Number.isInteger(frames) || frames < 0) throw new Error(`splitVideo: frame count must be a non-negative integer, got ${frames}`);
  if (!(spec.calibration >= 0 && spec.check >= 0 && spec.calibration + spec.check < 0.9))
    throw new Error(`splitVideo: held-back fractions must be >= 0 and sum below 0.9, got ${spec.calibration} + ${spec.check}`);
  const part = (f: number) => (f > 0 ? Math.max(minPart, Math.round(frames * f)) : 0);
  let check = part(spec.check);
  let calib = part(spec.calibration);
  if (frames - check - calib < minPart) {
    check = 0;
    calib = 0;
  }
  const calibEnd = frames - check;
  const trainEnd = calibEnd - calib;
  return { train: [0, trainEnd], calibration: [trainEnd, calibEnd], check: [calibEnd, frames], all: [0, frames] };
}

/**
 * Target frame indices t of the clips of one part: frames t-past..t all inside the part's range.
 * `past` is the number of past frames (4).
 */
export function clipTargets(split: VideoSplit, part: SplitPart, past: number): number[] {
  const [a, b] = split[part];
  const out: number[] = [];
  for (let t = a + past; t < b; t++) out.push(t);
  return out;
}
