/**
 * Weights and checkpoints on disk.
 *
 * A weights file pair is `<base>.json` (the model config, tensor names, shapes and byte offsets, plus
 * free-form metadata) and `<base>.bin` (float32 little-endian, tensors back to back). A training
 * checkpoint is a weights pair holding the parameters followed by the AdamW moments (`<name>/m`,
 * `<name>/v`), with the step and data-order state in the metadata. Files are written to a temp name
 * and renamed, so a crash mid-write never leaves a truncated checkpoint.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { tf } from './backend.js';
import { SfnConfigSchema, type SfnConfig } from '../core/model-config.js';

export interface TensorEntry {
  name: string;
  shape: number[];
  /** byte offset in the .bin file */
  offset: number;
}

export interface WeightsHeader {
  format: 'sfn-edge-weights/1';
  config: SfnConfig;
  tensors: TensorEntry[];
  meta: Record<string, unknown>;
}

async function atomicWrite(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}

/** Writes `tensors` (name -> tensor, float32) as `<base>.json` + `<base>.bin`. */
export async function saveWeights(
  base: string,
  config: SfnConfig,
  tensors: Map<string, tf.Tensor>,
  meta: Record<string, unknown> = {},
): Promise<void> {
  await fs.mkdir(path.dirname(base), { recursive: true });
  const entries: TensorEntry[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const data = t.dataSync() as Float32Array;
    entries.push({ name, shape: t.shape, offset });
    chunks.push(data);
    offset += data.byteLength;
  }
  const bin = new Uint8Array(offset);
  let o = 0;
  for (const c of chunks) {
    bin.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), o);
    o += c.byteLength;
  }
  const header: WeightsHeader = { format: 'sfn-edge-weights/1', config, tensors: entries, meta };
  await atomicWrite(`${base}.bin`, bin);
  await atomicWrite(`${base}.json`, JSON.stringify(header, null, 1));
}

/**
 * Reads a weights pair. Returns the header and name -> Float32Array (host copies).
 * Throws a clear error when a file is missing, the header is not a weights header, or the .bin is
 * shorter than the header says (truncated).
 */
export async function loadWeights(base: string): Promise<{ header: WeightsHeader; arrays: Map<string, { shape: number[]; data: Float32Array }> }> {
  const b = base.replace(/\.(json|bin)$/, '');
  let header: WeightsHeader;
  try {
    header = JSON.parse(await fs.readFile(`${b}.json`, 'utf8')) as WeightsHeader;
  } catch (err) {
    throw new Error(`${b}.json: cannot read the weights header (${(err as Error).message}); point to a file written by 'sfn-edge train'`);
  }
  if (header.format !== 'sfn-edge-weights/1') throw new Error(`${b}.json: not an sfn-edge weights file (format ${String(header.format)})`);
  header.config = SfnConfigSchema.parse(header.config);
  const bin = await fs.readFile(`${b}.bin`).catch((err: Error) => {
    throw new Error(`${b}.bin: cannot read the weights data (${err.message})`);
  });
  const arrays = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const e of header.tensors) {
    const n = e.shape.reduce((x, y) => x * y, 1);
    if (e.offset + n * 4 > bin.byteLength) throw new Error(`${b}.bin: truncated (tensor '${e.name}' needs bytes up to ${e.offset + n * 4}, file has ${bin.byteLength}); the checkpoint is corrupt, use an earlier one`);
    const data = new Float32Array(n);
    new Uint8Array(data.buffer).set(bin.subarray(e.offset, e.offset + n * 4));
    arrays.set(e.name, { shape: e.shape, data });
  }
  return { header, arrays };
}
