/**
 * `sfn-edge models`: the model variants under a models root (`<root>/<precision>/<name>.onnx`, each
 * with its manifest), checked against their manifests and listed as a table.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { readManifest, type Manifest } from '../export/manifest.js';
import { PRECISIONS, type Precision } from './command.js';

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

/** The `models` table: variant, MB, experts kept per layer, calibration, micro AUC, ms/frame, sha256 prefix, status. */
export function modelsTable(entries: ModelEntry[]): string {
  const rows = [['variant', 'MB', 'experts', 'calibration', 'micro_auc', 'ms/frame', 'sha256', 'status']];
  for (const e of entries) {
    const m = e.manifest;
    const kept = m ? `${Math.min(...m.experts.kept.map((k) => k.length))}/${m.experts.count}` : '-';
    const cal = m?.optimization?.calibration?.method ?? '-';
    rows.push([e.variant, m ? fmt(m.bytes / 1e6, 2) : '-', kept, cal, fmt(m?.evaluation?.micro_auc, 4), fmt(m?.benchmark?.ms_per_frame, 2), m ? m.sha256.slice(0, 12) : '-', e.error ? `ERROR: ${e.error}` : 'ok']);
  }
  return formatTable(rows);
}

/** Prints the table (or JSON) of the variants under `root`; throws when a model failed its check. */
export async function runModels(o: { root: string; json?: boolean }, print: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<ModelEntry[]> {
  const entries = await listModels(o.root);
  print(o.json ? JSON.stringify(entries.map((e) => ({ variant: e.variant, file: e.file, error: e.error, manifest: e.manifest }))) : modelsTable(entries));
  const bad = entries.filter((e) => e.error);
  if (bad.length > 0) throw new Error(`${bad.length} model(s) failed their check: ${bad.map((e) => `${e.variant} (${e.error})`).join('; ')}`);
  return entries;
}
