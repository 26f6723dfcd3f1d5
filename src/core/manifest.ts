/**
 * `<model>.manifest.json`: what an exported model is, how to feed it and how it was verified.
 * Written beside `<model>.onnx` by `sfn-edge export`; read (and checked against the model's bytes)
 * by every consumer before the model is run, so that a model and its description cannot drift.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { SfnConfigSchema } from './model-config.js';
import { PRECISIONS } from './precision.js';

/** The `format` tag of manifests this code writes and reads. */
export const MANIFEST_FORMAT = 'sfn-edge-manifest/1';

/** One graph input or output. `shape` uses 'N' for the dynamic batch dimension. */
const IoSchema = z.object({
  name: z.string(),
  shape: z.array(z.union([z.number().int().positive(), z.literal('N')])),
  dtype: z.literal('float32'),
  layout: z.string(),
  range: z.tuple([z.number(), z.number()]),
  note: z.string().optional(),
});

/** Location and scale of one measure's frame score r on the calibration frames (scoring/calibration.ts). */
const MeasureStatsSchema = z.object({
  loc: z.number(),
  scale: z.number().positive(),
  /** the (1 - fpr) quantile of the smoothed z on the calibration frames: the threshold at that false-alarm rate */
  on_at_fpr: z.number(),
  /** the largest smoothed z on the calibration frames */
  max: z.number(),
  /** `[fpr, threshold]` pairs, fpr decreasing: the (1 - fpr) quantile of the smoothed z (what `threshold.fpr` reads) */
  quantiles: z.array(z.tuple([z.number().positive(), z.number()])).optional(),
});

/**
 * Error statistics of the model on held-back normal video (scoring/calibration.ts): per window of
 * a patch grid, location and scale of log(window MSE + eps); per measure, the frame score's
 * location and scale and the threshold at false-alarm rate `fpr`. `run` scores with them from the
 * first frame.
 */
export const CalibrationSchema = z.looseObject({
  /** 'log-median-mad-2' (scoring/calibration.ts CALIBRATION_METHOD); 'log-median-mad' is the first method, read but not used (recalibrate) */
  method: z.enum(['log-median-mad', 'log-median-mad-2']),
  eps: z.number().positive(),
  /** the normal videos, the split part used and the split fractions (src/core/split.ts) */
  data: z.string(),
  part: z.enum(['train', 'calibration', 'check', 'all']),
  split: z.object({ calibration: z.number(), check: z.number() }),
  videos: z.number().int().nonnegative(),
  /** calibration clips (frames scored) */
  frames: z.number().int().positive(),
  /** per-frame false-alarm rate of `on_at_fpr`, and the smoothing sigma (frames) it was computed with */
  fpr: z.number().positive(),
  sigma: z.number().nonnegative(),
  patch: z.object({
    size: z.number().int().positive(),
    stride: z.number().int().positive(),
    rows: z.number().int().positive(),
    cols: z.number().int().positive(),
    /** row-major `[rows * cols]` median and scale (1.4826 MAD, floored) of log(window MSE + eps) */
    loc: z.array(z.number()),
    scale: z.array(z.number().positive()),
  }),
  measures: z.object({ mse: MeasureStatsSchema, 'patch-max': MeasureStatsSchema }),
  /**
   * A semantic model only: its text error u = 1 - cos(text, text_pred) on the same clips, with
   * captions every `every` frames as run feeds them (pipeline/semantic.ts). `loc` / `scale`: median
   * and 1.4826 MAD of u. `measures`: per frame measure, the statistics of the combined smoothed
   * score z_frame + weight * (u - loc) / scale, whose quantiles give run's thresholds when its
   * `semantic_weight` equals `weight`.
   */
  semantic: z
    .object({
      every: z.number().int().positive(),
      weight: z.number().min(0).max(1),
      loc: z.number(),
      scale: z.number().positive(),
      measures: z.object({ mse: MeasureStatsSchema, 'patch-max': MeasureStatsSchema }),
    })
    .optional(),
  created: z.string(),
});

/** A model's calibration on normal video. */
export type Calibration = z.infer<typeof CalibrationSchema>;

/**
 * Schema of `<model>.manifest.json`: the model file (name, sha256, bytes, precision, opset), its
 * inputs/outputs (shapes with 'N' for a dynamic batch, layout, value range), the frame
 * normalisation, the SfnConfig, the experts kept per SFFM layer, the training run (from the weights'
 * meta; null where unknown), an optional evaluation, the export's parity check and creation time.
 */
export const ManifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  name: z.string().min(1),
  /** file name of the .onnx, relative to the manifest's folder */
  file: z.string().min(1),
  /** lowercase hex SHA-256 of the .onnx bytes */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  precision: z.enum(PRECISIONS),
  opset: z.number().int().positive(),
  inputs: z.array(IoSchema).min(1),
  outputs: z.array(IoSchema).min(1),
  normalisation: z.object({
    range: z.tuple([z.number(), z.number()]),
    color: z.enum(['gray', 'rgb']),
    channels: z.number().int().positive(),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    note: z.string(),
  }),
  model: SfnConfigSchema,
  /** semantic branch (textDim > 0): the captioner that makes its text features and the score weights */
  semantic: z
    .object({
      textDim: z.number().int().positive(),
      captioner: z.string(),
      weights: z.object({ frame: z.number().min(0), text: z.number().min(0) }),
      note: z.string().optional(),
    })
    .optional(),
  experts: z.object({
    count: z.number().int().positive(),
    topK: z.number().int().positive(),
    expertDim: z.number().int().positive(),
    shared: z.number().int().nonnegative(),
    gateScale: z.number().positive(),
    /** per SFFM layer: the indices of the routed experts kept in the graph (all until pruning exists) */
    kept: z.array(z.array(z.number().int().nonnegative())),
  }),
  training: z.object({
    weights: z.string().nullable(),
    data: z.string().nullable(),
    /** the step of the weights exported: the checkpoint the validation rule chose (0 = copy-last) */
    steps: z.number().nullable(),
    /** the last step the run trained; beside `steps` when the chosen checkpoint is an earlier one */
    last_step: z.number().optional(),
    epochs: z.number().nullable(),
    epochs_completed: z.number().nullable(),
    seed: z.number().nullable(),
    batch: z.number().nullable(),
    lr: z.number().nullable(),
    seconds: z.number().nullable(),
    /** fine-tuning: the weights the run started from, the parameters it trained, its caption file */
    init: z.string().optional(),
    train_only: z.string().optional(),
    captions: z.string().optional(),
  }),
  /** filled by the caller after an evaluation (e.g. `eval`); free-form beyond the listed fields */
  evaluation: z
    .looseObject({
      dataset: z.string(),
      micro_auc: z.number(),
      macro_auc: z.number().nullable(),
      measure: z.string(),
    })
    .optional(),
  parity: z.looseObject({
    /** max |ONNX Runtime - TensorFlow.js| over every output value of the parity inputs */
    max_abs_diff: z.number().nonnegative(),
    tolerance: z.number().positive(),
    inputs: z.object({ clips: z.number().int().positive(), seed: z.number().int(), distribution: z.string() }),
    reference: z.string(),
    runtime: z.string(),
  }),
  /** how an optimised variant (fp16, int8, pruned) was made from its fp32 source (absent on exports) */
  optimization: z
    .looseObject({
      /** the fp32 model it was made from, and that model's micro AUC when `optimize` measured it */
      source: z.object({ name: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), micro_auc: z.number().nullable().optional() }),
      /** the passes in order, e.g. ['prune 12/16 experts per layer', 'int8 QDQ'] */
      steps: z.array(z.string()),
      /** calibration of the int8 ranges or of the routing statistics; null when none was needed */
      calibration: z
        .looseObject({ method: z.string().nullable(), data: z.string(), videos: z.number().int(), clips: z.number().int() })
        .nullable(),
    })
    .optional(),
  /** error statistics on held-back normal video (`sfn-edge calibrate`, scoring/calibration.ts); absent: run falls back to a running baseline */
  calibration: CalibrationSchema.optional(),
  /** speed measured on the machine that made the variant (`optimize`) */
  benchmark: z
    .looseObject({ ms_per_frame: z.number().nonnegative(), batch: z.number().int().positive(), provider: z.string(), threads: z.number().int(), machine: z.string() })
    .optional(),
  /** ISO 8601 time of the export */
  created: z.string(),
});

/** A validated manifest. */
export type Manifest = z.infer<typeof ManifestSchema>;

/** `/a/b/model.onnx` -> `/a/b/model.manifest.json` (the extension, if any, replaced). */
export function manifestPathFor(modelPath: string): string {
  const ext = path.extname(modelPath);
  return `${ext ? modelPath.slice(0, -ext.length) : modelPath}.manifest.json`;
}

/** Lowercase hex SHA-256 of `bytes`. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Validates `m` against the schema and writes it (pretty JSON) beside `modelPath`, atomically
 * (temp file + rename). Returns the manifest path. Throws a ZodError-derived Error on a bad manifest.
 */
export async function writeManifest(modelPath: string, m: Manifest): Promise<string> {
  const parsed = ManifestSchema.safeParse(m);
  if (!parsed.success) throw new Error(`refusing to write an invalid manifest for ${modelPath}: ${z.prettifyError(parsed.error)}`);
  const file = manifestPathFor(modelPath);
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, `${JSON.stringify(parsed.data, null, 2)}\n`);
  await fs.rename(tmp, file);
  return file;
}

/**
 * Reads and validates the manifest beside `modelPath` and checks the model file against it.
 * @returns the manifest and the model's bytes (so callers need not read the file twice).
 * @throws Error when the model or the manifest is missing, the manifest is not valid JSON or not an
 *   sfn-edge manifest (lists the bad fields), or the model's SHA-256 differs from the manifest's:
 *   'model X does not match its manifest (sha256 ...); re-export or restore the file'.
 */
export async function readManifest(modelPath: string): Promise<{ manifest: Manifest; path: string; bytes: Uint8Array }> {
  const file = manifestPathFor(modelPath);
  const bytes = await fs.readFile(modelPath).catch((err: NodeJS.ErrnoException) => {
    throw new Error(err.code === 'ENOENT' ? `model ${modelPath} not found` : `model ${modelPath} cannot be read (${err.message})`);
  });
  let raw: string;
  try {
    raw = await fs.readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(
      e.code === 'ENOENT'
        ? `model ${modelPath} has no manifest (${file} not found); export models with 'sfn-edge export', which writes both`
        : `manifest ${file} cannot be read (${e.message})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new Error(`manifest ${file} is not valid JSON (${(err as Error).message}); re-export the model`);
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) throw new Error(`manifest ${file} is not an sfn-edge manifest (${MANIFEST_FORMAT}):\n${z.prettifyError(parsed.error)}`);
  const m = parsed.data;
  const actual = sha256(bytes);
  if (actual !== m.sha256 || bytes.byteLength !== m.bytes)
    throw new Error(
      `model ${modelPath} does not match its manifest (sha256 ${actual}, ${bytes.byteLength} bytes; manifest says ${m.sha256}, ${m.bytes} bytes); re-export or restore the file`,
    );
  return { manifest: m, path: file, bytes };
}
