/**
 * Streaming normalisation of per-frame errors against a running baseline of recent normal frames.
 *
 * The offline protocol min-max normalises each video with its own minimum and maximum, which needs
 * the whole video. Online we keep the raw errors of the last `window` frames that were *not* part of
 * an event (candidate or active) and normalise each new error robustly against them:
 *
 *   z_t = (e_t - median(B)) / max(1.4826 · MAD(B), relFloor · median(B), absFloor)
 *
 * where B is the baseline window, MAD(B) = median(|b - median(B)|), and 1.4826 makes the MAD a
 * consistent estimate of the standard deviation for Gaussian data (Rousseeuw & Croux 1993). The
 * floors keep z finite on an almost static scene (MAD -> 0). z is "robust standard deviations above
 * the recent normal level": 0 is typical, 3-4 is unusual. Frames inside an event are not added to
 * B, so a long anomaly does not become the new normal (the caller decides; see {@link EventDetector}).
 * Until `warmup` frames have been seen the baseline is not trusted and {@link normalise} returns 0.
 */

/** Median of a non-empty array (sorted copy; O(n log n), n = window, a few hundred). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) throw new Error('median of an empty array');
  const m = n >> 1;
  return n % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Options of {@link RunningBaseline}. */
export interface BaselineOptions {
  /** frames kept in the baseline window (>= 1) */
  window: number;
  /** frames needed before scores are produced (1..window) */
  warmup: number;
  /** lower bound on the scale relative to the median (default 0.05) */
  relFloor?: number;
  /** absolute lower bound on the scale, in error units (default 1e-6) */
  absFloor?: number;
}

/** Robust running median/MAD baseline over the last `window` normal frames (see the file comment). */
export class RunningBaseline {
  private readonly values: number[] = [];
  private stats: { med: number; scale: number } | null = null;

  /** @throws RangeError if window < 1 or warmup is outside 1..window. */
  constructor(readonly opts: BaselineOptions) {
    if (!(Number.isInteger(opts.window) && opts.window >= 1)) throw new RangeError(`baseline window must be a positive integer, got ${opts.window}`);
    if (!(Number.isInteger(opts.warmup) && opts.warmup >= 1 && opts.warmup <= opts.window)) {
      throw new RangeError(`baseline warmup must be an integer in 1..window (${opts.window}), got ${opts.warmup}`);
    }
  }

  /** Number of frames in the window now. */
  get size(): number {
    return this.values.length;
  }

  /** True once `warmup` frames have been added. */
  get ready(): boolean {
    return this.values.length >= this.opts.warmup;
  }

  /** Adds a normal frame's raw error (the oldest is dropped when the window is full). */
  add(error: number): void {
    if (!Number.isFinite(error)) return;
    this.values.push(error);
    if (this.values.length > this.opts.window) this.values.shift();
    this.stats = null;
  }

  /** Current median and scale (the denominator of z), or null before warm-up. */
  current(): { median: number; scale: number } | null {
    if (!this.ready) return null;
    if (!this.stats) {
      const med = median(this.values);
      const mad = median(this.values.map((v) => Math.abs(v - med)));
      const scale = Math.max(1.4826 * mad, (this.opts.relFloor ?? 0.05) * Math.abs(med), this.opts.absFloor ?? 1e-6);
      this.stats = { med, scale };
    }
    return { median: this.stats.med, scale: this.stats.scale };
  }

  /** z-score of a raw error against the baseline (0 before warm-up). */
  normalise(error: number): number {
    const s = this.current();
    if (!s || !Number.isFinite(error)) return 0;
    return (error - s.median) / s.scale;
  }

  /** The window's values, oldest first (a copy). */
  snapshot(): number[] {
    return this.values.slice();
  }

  /** Forgets everything (new stream, scene change, model change). */
  reset(): void {
    this.values.length = 0;
    this.stats = null;
  }
}

/** Options of {@link CalibratedBaseline}. */
export interface CalibratedBaselineOptions {
  /** location and scale of the raw frame score on held-back normal video (the manifest's calibration) */
  loc: number;
  scale: number;
  /** drift step per accepted frame, as a fraction of the gap (EMA rate; default 1/3000, 0 = no drift) */
  rate?: number;
  /** only frames with z below this are accepted for drift (default 1: well below the off threshold) */
  acceptBelow?: number;
  /** the location never moves more than this many scales from the calibrated one (default 0.5) */
  bound?: number;
}

/**
 * Normalisation against statistics calibrated on normal video: z = (e - loc) / scale, ready from
 * the first frame. A slow, bounded drift of the location follows a scene that changes slowly
 * (light, season): each frame the caller adds (only idle frames below `off`, see EventDetector)
 * moves the location by `rate` of its distance, if its z is below `acceptBelow`; the location
 * stays within `bound` scales of the calibrated one. A persistent anomaly (z above `acceptBelow`)
 * is never accepted, and even a run of borderline frames can lower its z by `bound` at most.
 */
export class CalibratedBaseline {
  private loc: number;
  readonly ready = true;
  constructor(readonly opts: CalibratedBaselineOptions) {
    if (!(Number.isFinite(opts.loc) && opts.scale > 0)) throw new RangeError(`calibrated baseline needs a finite loc and a positive scale, got ${opts.loc} / ${opts.scale}`);
    this.loc = opts.loc;
  }

  /** Frames seen are not kept: reports 0. */
  get size(): number {
    return 0;
  }

  /** The location and scale in force. */
  current(): { median: number; scale: number } {
    return { median: this.loc, scale: this.opts.scale };
  }

  /** z-score of a raw score (0 for a non-finite one). */
  normalise(error: number): number {
    return Number.isFinite(error) ? (error - this.loc) / this.opts.scale : 0;
  }

  /** A normal frame's raw score: drifts the location (see the class comment). */
  add(error: number): void {
    const rate = this.opts.rate ?? 1 / 3000;
    if (!Number.isFinite(error) || rate <= 0 || this.normalise(error) >= (this.opts.acceptBelow ?? 1)) return;
    const b = (this.opts.bound ?? 0.5) * this.opts.scale;
    this.loc = Math.min(this.opts.loc + b, Math.max(this.opts.loc - b, this.loc + rate * (error - this.loc)));
  }

  /** Nothing is kept. */
  snapshot(): number[] {
    return [];
  }

  /** Back to the calibrated location. */
  reset(): void {
    this.loc = this.opts.loc;
  }
}
