/**
 * `sfn-edge models`: the model variants under a models root (`<root>/<precision>/<name>.onnx`, each
 * with its manifest), checked against their manifests and listed as a table, with the default model
 * (`<root>/default.json`, see core/default-model.ts) marked.
 *
 * ms/frame: the manifest's `benchmark` is written only by `optimize`, for the fp16/int8 variants it
 * builds; `export` writes none, so an fp32 model had none and showed "-". The column therefore takes
 * the last `sfn-edge bench` result for the same file (bench/results.json rows carry the model's
 * sha256), and falls back to the manifest's `benchmark` (marked `*`).
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { readManifest, type Manifest } from '../core/manifest.js';
import { DEFAULT_MODEL_FILE, defaultModelVariant } from '../core/default-model.js';
import { PRECISIONS, type Precision } from '../core/precision.js';

/** One listed variant; `manifest` null and `error` set when it failed its check. */
export interface ModelEntry {
  /** `<precision>/<name>`, the form device profiles use (`model.variant`) */
  variant: string;
  precision: Precision;
  file: string;
  manifest: Manifest | null;
  error: string | null;
}

/** Every `<root>/<precision>/*.onnx`, precision order fp32, fp16, int8, then by name. Never throws for a bad model (see `error`). */
export async function listModels(root: string): Promise<ModelEntry[]> {
  const out: ModelEntry[] = [];
  for (const precision of PRECISIONS) {
    const dir = path.join(root, precision);
    const files = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.onnx')).sort((a, b) => a.slice(0, -5).localeCompare(b.slice(0, -5), 'en'));
    for (const f of files) {
      const file = path.join(dir, f);
      const variant = `${precision}/${f.replace(/\.onnx$/, '')}`;
      try {
        const { manifest } = await readManifest(file);
        out.push({ variant, precision, file, manifest, error: manifest.precision === precision ? null : `manifest says ${manifest.precision}, folder says ${precision}` });
      } catch (err) {
        out.push({ variant, precision, file, manifest: null, error: (err as Error).message.split('\n')[0]! });
      }
    }
  }
  return out;
}

/** Pads a table of strings into aligned columns (first row = header). */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ').trimEnd()).join('\n');
}

const fmt = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? '-' : v.toFixed(digits));

/** Timings of a `bench` run (bench/results.json) by model sha256, and what they were measured on. */
export interface BenchTimes {
  file: string;
  /** sha256 -> ms per frame at the bench batch (p50) */
  ms: Map<string, number>;
  batch: number | null;
  machine: string;
  created: string;
}

/**
 * Reads the timings of a saved `bench` result.
 * @param file bench JSON (default bench/results.json)
 * @returns null when the file is missing or not a bench result; rows without `sha256` (written
 *   before rows carried it) are skipped, as nothing says which model they measured.
 */
export async function readBenchTimes(file = 'bench/results.json'): Promise<BenchTimes | null> {
  try {
    const r = JSON.parse(await fs.readFile(file, 'utf8')) as { machine?: { cpu?: string }; threads?: number; created?: string; rows?: { sha256?: unknown; batch?: number; ms_batch?: { p50?: unknown } }[] };
    if (!Array.isArray(r.rows)) return null;
    const ms = new Map<string, number>();
    let batch: number | null = null;
    for (const row of r.rows) {
      if (typeof row.sha256 === 'string' && typeof row.ms_batch?.p50 === 'number') {
        ms.set(row.sha256, row.ms_batch.p50);
        batch ??= row.batch ?? null;
      }
    }
    return { file, ms, batch, machine: `${r.machine?.cpu ?? 'unknown cpu'}, ${r.threads ?? '?'} threads`, created: r.created ?? '?' };
  } catch {
    return null;
  }
}

/** ms/frame of an entry: the bench result for its sha256, else its manifest's `benchmark`, else null. */
export function msPerFrame(e: ModelEntry, bench: BenchTimes | null): { ms: number; source: 'bench' | 'manifest' } | null {
  const m = e.manifest;
  if (!m) return null;
  const b = bench?.ms.get(m.sha256);
  if (b !== undefined) return { ms: b, source: 'bench' };
  return typeof m.benchmark?.ms_per_frame === 'number' ? { ms: m.benchmark.ms_per_frame, source: 'manifest' } : null;
}

/**
 * The `models` table: variant, MB, experts kept per layer, score calibration (the method of the
 * manifest's `calibration`, the normal-video statistics `run` scores against; `none` = `run` falls
 * back to a running baseline), int8 calibration (the QDQ activation-range method of a quantized
 * variant; `-` for fp32 / fp16), micro AUC, ms/frame (see the module comment; `*` = from the
 * manifest), sha256 prefix, status (`ok, default` for the default model).
 */
export function modelsTable(entries: ModelEntry[], opts: { bench?: BenchTimes | null; defaultVariant?: string | null } = {}): string {
  const rows = [['variant', 'MB', 'experts', 'scores', 'int8_ranges', 'micro_auc', 'ms/frame', 'sha256', 'status']];
  for (const e of entries) {
    const m = e.manifest;
    const kept = m ? `${Math.min(...m.experts.kept.map((k) => k.length))}/${m.experts.count}` : '-';
    const scores = m ? (m.calibration?.method ?? 'none') : '-';
    const ranges = m?.optimization?.calibration?.method ?? '-';
    const t = msPerFrame(e, opts.bench ?? null);
    const ms = t ? `${t.ms.toFixed(2)}${t.source === 'manifest' ? '*' : ''}` : '-';
    const status = e.error ? `ERROR: ${e.error}` : e.variant === opts.defaultVariant ? 'ok, default' : 'ok';
    rows.push([e.variant, m ? fmt(m.bytes / 1e6, 2) : '-', kept, scores, ranges, fmt(m?.evaluation?.micro_auc, 4), ms, m ? m.sha256.slice(0, 12) : '-', status]);
  }
  return formatTable(rows);
}

/**
 * Prints the table (or JSON: per variant also `default`, `ms_per_frame` and its `ms_source`) of the
 * variants under `root`, and below the table where ms/frame comes from and which model is the default.
 * @param o.bench saved bench result to take ms/frame from (default bench/results.json; missing is fine)
 * @throws Error when a model failed its check, or `<root>/default.json` exists but is unusable (bad
 *   JSON, no `model`, names a file that is not there). A root without default.json is only noted.
 */
export async function runModels(o: { root: string; json?: boolean; bench?: string }, print: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<ModelEntry[]> {
  const entries = await listModels(o.root);
  const bench = await readBenchTimes(o.bench ?? 'bench/results.json');
  const dfile = path.join(o.root, DEFAULT_MODEL_FILE);
  let dflt: string | null = null;
  let dfltError: string | null = null;
  try {
    dflt = (await defaultModelVariant(o.root)).variant;
  } catch (err) {
    if (existsSync(dfile)) dfltError = (err as Error).message;
  }
  if (o.json) {
    print(JSON.stringify(entries.map((e) => {
      const t = msPerFrame(e, bench);
      return { variant: e.variant, file: e.file, error: e.error, default: e.variant === dflt, ms_per_frame: t?.ms ?? null, ms_source: t?.source ?? null, manifest: e.manifest };
    })));
  } else {
    print(modelsTable(entries, { bench, defaultVariant: dflt }));
    const from = bench && bench.ms.size === 0 ? `${bench.file} matches no model file (saved before bench rows carried the model sha256)` : bench ? `batch-${bench.batch ?? '?'} p50 of \`sfn-edge bench\` in ${bench.file} (${bench.created}, ${bench.machine}) for the files it measured` : `no ${o.bench ?? 'bench/results.json'}`;
    print('scores: how run standardises errors (normal-video statistics in the manifest; none = a running baseline with a 20-frame warm-up, run `sfn-edge calibrate`); int8_ranges: how a quantized variant\'s activation ranges were calibrated');
    print(`ms/frame: ${from}; * = the manifest's benchmark (measured by optimize); - = not measured (run \`sfn-edge bench\`)`);
    print(dflt ? `default model (run, eval --online): ${dflt} (${dfile})` : dfltError ? `default model: ERROR: ${dfltError}` : `default model: none (${dfile} is missing; run and eval --online need --model)`);
  }
  const bad = entries.filter((e) => e.error);
  if (bad.length > 0) throw new Error(`${bad.length} model(s) failed their check: ${bad.map((e) => `${e.variant} (${e.error})`).join('; ')}`);
  if (dfltError) throw new Error(dfltError);
  return entries;
}
