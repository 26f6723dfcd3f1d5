/**
 * The weights of an sfn-edge export, read back from its ONNX initialisers, so that an older export
 * can be rebuilt in the current graph layout (`sfn-edge export --from-onnx`) when its training
 * checkpoint is gone. Initialiser names are the parameter names (builder.ts), so most weights are
 * read as they are; the export-time folds (fold.ts) are undone by choosing the unfolded values that
 * fold back to the same initialisers:
 *
 * - `embed.app.b+pos` becomes the position embedding with `embed.app.b = 0`, and `embed.mot.b2` is
 *   the first row of `embed.mot.b2+pos - embed.app.b+pos` (every row of that difference is b2 - b_app);
 * - `attn.q.w*scale`, `attn.q.b*scale` are divided by the scale 1/sqrt(dh);
 * - the SFFM's `w1*ln`, `b1+ln` (and the shared expert's) become W1, b1 with an identity LayerNorm
 *   affine (gamma 1, beta 0), which folds back exactly.
 *
 * The rebuilt graph computes the same function up to float32 rounding of those inversions (a few
 * ulps of the embedding bias and W_q); `export --from-onnx` checks it against the old graph.
 */
import { SfnConfigSchema, type SfnConfig } from '../core/model-config.js';
import { decodeModel, dimsOf, floatData, DType } from '../export/onnx-graph.js';
import { sizes, type WeightArrays } from './fold.js';

/**
 * The configuration (metadata `sfn.config`) and weights of the sfn-edge export `bytes`.
 * @throws Error when the model has no `sfn.config` metadata, or lacks a folded parameter (not an
 *   unpruned sfn-edge fp32 export).
 */
export function weightsFromExport(bytes: Uint8Array, label = '<model>'): { cfg: SfnConfig; arrays: WeightArrays } {
  const m = decodeModel(bytes, label);
  const meta = m.metadataProps?.find((p) => p.key === 'sfn.config')?.value;
  if (!meta) throw new Error(`${label} has no 'sfn.config' metadata: not an sfn-edge export`);
  const cfg = SfnConfigSchema.parse(JSON.parse(meta));
  const { D, E, d, dh, tokens: T } = sizes(cfg);
  const arrays: WeightArrays = new Map();
  for (const t of m.graph!.initializer ?? []) if (t.dataType === DType.FLOAT) arrays.set(t.name!, { shape: dimsOf(t), data: floatData(t) });
  const take = (name: string) => {
    const a = arrays.get(name);
    if (!a) throw new Error(`${label} has no initialiser '${name}': not an unpruned sfn-edge fp32 export`);
    arrays.delete(name);
    return a;
  };
  const set = (name: string, shape: number[], data: Float32Array) => arrays.set(name, { shape, data });

  const appPos = take('embed.app.b+pos');
  const motPos = take('embed.mot.b2+pos');
  set('embed.pos', [T, D], appPos.data);
  set('embed.app.b', [D], new Float32Array(D));
  set('embed.mot.b2', [D], Float32Array.from({ length: D }, (_, j) => motPos.data[j]! - appPos.data[j]!));
  const scale = 1 / Math.sqrt(dh);
  for (let l = 0; l < cfg.blocks; l++) {
    const b = `block${l}`;
    set(`${b}.attn.q.w`, [D, D], take(`${b}.attn.q.w*scale`).data.map((v) => v / scale));
    set(`${b}.attn.q.b`, [D], take(`${b}.attn.q.b*scale`).data.map((v) => v / scale));
    const p = `${b}.sffm`;
    set(`${p}.w1`, [D, E * d], take(`${p}.w1*ln`).data);
    set(`${p}.b1`, [E * d], take(`${p}.b1+ln`).data);
    set(`${p}.ln.g`, [E, D], new Float32Array(E * D).fill(1));
    set(`${p}.ln.b`, [E, D], new Float32Array(E * D));
    if (cfg.sharedExperts > 0) {
      set(`${p}.shared.w1`, [D, d], take(`${p}.shared.w1*ln`).data);
      set(`${p}.shared.b1`, [d], take(`${p}.shared.b1+ln`).data);
      set(`${p}.shared.ln.g`, [D], new Float32Array(D).fill(1));
      set(`${p}.shared.ln.b`, [D], new Float32Array(D));
    }
  }
  return { cfg, arrays };
}
