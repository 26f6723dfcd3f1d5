/**
 * The learn-normal recipe: one set of settings for every camera, sized to the data. `train` with no
 * flags runs it. Nothing here depends on the scene; every number was fixed before any test score
 * of the runs that use it was seen.
 *
 * - Schedule: 16 passes over the training clips, bounded to 8,000-20,000 clips in all (1,000-2,500
 *   steps at batch 8): a camera with a few hundred normal frames still gets enough steps, a long
 *   recording does not take hours on a 2-core CPU. Warm-up is 5 % of the steps (20-300).
 * - Skip-frame pseudo-anomalies: a quarter of every batch are clips whose frames are 2-4 frames
 *   apart, with the last past frame as the target (see `makeBatch`).
 * - Validation: every tenth of the run (and at step 0, the copy-last predictor) on the calibration
 *   part; the checkpoint with the best validation AUC is the result (see `validate.ts`).
 * - Grid: matched to the source's aspect ratio at about 144 x 96 pixels (see `gridFor`).
 */

/**
 * Model options of the recipe (over `SfnConfig`'s defaults). The SFFM residual keeps training
 * stable at lr 1e-3 (without it the prediction loss doubled at the end of warm-up, README); what the
 * residual lets through around the experts, the skip-frame pseudo-anomalies teach the network not
 * to pass: the filtering is asked of the training objective, not only of the architecture.
 */
export const RECIPE_MODEL = { sffmResidual: true } as const;

/** Passes over the training clips (before the bounds). */
export const RECIPE_EPOCHS = 16;
/** Bounds on the clips seen in a run. */
export const RECIPE_MIN_SAMPLES = 8_000;
export const RECIPE_MAX_SAMPLES = 20_000;
/** Share of each batch that are skip-frame pseudo-anomalies. */
export const RECIPE_PSEUDO_SHARE = 0.25;

/** A run's schedule in steps. */
export interface Schedule {
  totalSteps: number;
  warmup: number;
  /** validate every this many steps */
  validateEvery: number;
}

/**
 * The schedule for `clips` training clips at batch `batch`. With `epochs` the run is exactly that
 * many passes (no bounds); warm-up is still 5 % unless `warmup` is given.
 * @throws Error when `clips` < `batch` (no full batch).
 */
export function scheduleFor(clips: number, batch: number, epochs?: number, warmup?: number): Schedule {
  const stepsPerEpoch = Math.floor(clips / batch);
  if (stepsPerEpoch < 1) throw new Error(`${clips} training clips is fewer than one batch of ${batch}; record more normal video or lower --batch`);
  const totalSteps =
    epochs !== undefined
      ? epochs * stepsPerEpoch
      : Math.round(Math.min(RECIPE_MAX_SAMPLES, Math.max(RECIPE_MIN_SAMPLES, RECIPE_EPOCHS * clips)) / batch);
  return {
    totalSteps,
    warmup: warmup ?? Math.min(300, Math.max(20, Math.round(0.05 * totalSteps))),
    validateEvery: Math.max(25, Math.round(totalSteps / 10)),
  };
}

/**
 * A model grid (height, width) matching a source of `nativeWidth x nativeHeight` pixels: about
 * `pixels` pixels (default 144 x 96 = 13,824), both sides multiples of `patch`, aspect ratio as
 * close to the source's as that allows. Ped2's 360 x 240 gives 144 x 96; a 640 x 360 camera gives
 * 160 x 88. A grid matched to the source is used rather than a letterbox so that no token is spent
 * on bars.
 * @throws RangeError on non-positive sizes.
 */
export function gridFor(nativeWidth: number, nativeHeight: number, patch = 8, pixels = 144 * 96): { width: number; height: number } {
  if (!(nativeWidth > 0 && nativeHeight > 0 && patch > 0)) throw new RangeError(`gridFor: sizes must be positive, got ${nativeWidth}x${nativeHeight}, patch ${patch}`);
  const aspect = nativeWidth / nativeHeight;
  const h0 = Math.sqrt(pixels / aspect);
  let best = { width: patch, height: patch, cost: Infinity };
  for (let hp = Math.max(2, Math.floor(h0 / patch) - 2); hp <= Math.ceil(h0 / patch) + 2; hp++) {
    const height = hp * patch;
    const width = Math.max(2, Math.round((height * aspect) / patch)) * patch;
    const cost = Math.abs(Math.log(width / height / aspect)) + 0.5 * Math.abs(Math.log((width * height) / pixels));
    if (cost < best.cost) best = { width, height, cost };
  }
  return { width: best.width, height: best.height };
}
