/**
 * Synthetic inputs for timing and graph measurements (`bench`, its worker, MACs per frame) that
 * cover every input a model declares, so a model with the semantic branch (a second input `text`)
 * runs like a frame-only one.
 */
import { ort, type Ort } from '../inference/ort.js';
import type { Manifest } from '../core/manifest.js';

/**
 * The feeds of one `session.run` on `n` clips, for timing only.
 *
 * - `frames` (the first manifest input, `[n, 4*C, H, W]` float32 in [0, 1]): `frame(i)` for element i
 *   (default 0.5 everywhere).
 * - `text` (semantic models, `[n, textDim]` float32): all zeros. Zeros are the embedding of an empty
 *   caption (caption/embed.ts `embedCaption([])`: nothing detected, log(1 + 0) = 0 in every slot) and
 *   the feature `run` feeds before its first caption arrives (pipeline/semantic.ts), so it is a real
 *   input of the model, not an out-of-range one. The graph's cost does not depend on the values (the
 *   text path is dense; routing picks top-k experts whatever the values), so the timing is that of
 *   any caption. The caption itself (detector, every K frames, on a worker) is not included.
 *
 * @param manifest the model's manifest (its `inputs` give names, shapes and dtypes)
 * @param inputNames the session's input names (`session.inputNames`)
 * @param n clips, >= 1
 * @param frame value of element i of the frames tensor (in [0, 1])
 * @throws Error naming the input when the session has an input this function does not know how to
 *   fill (not the first manifest input, not `text`), or a dimension of it is not a number.
 */
export function timingFeeds(manifest: Manifest, inputNames: readonly string[], n: number, frame: (i: number) => number = () => 0.5): Record<string, Ort.Tensor> {
  const first = manifest.inputs[0]!;
  const [, ch, H, W] = first.shape as [unknown, number, number, number];
  const feeds: Record<string, Ort.Tensor> = {};
  for (const name of inputNames) {
    if (name === first.name || (inputNames.length === 1 && name === inputNames[0])) {
      feeds[name] = new ort.Tensor('float32', Float32Array.from({ length: n * ch * H * W }, (_, i) => frame(i)), [n, ch, H, W]);
      continue;
    }
    const spec = manifest.inputs.find((i) => i.name === name);
    const k = spec?.shape[1];
    if (name !== 'text' || typeof k !== 'number') {
      throw new Error(`${manifest.name}: no synthetic value for input '${name}' (manifest shape ${spec ? JSON.stringify(spec.shape) : 'missing'}); only the frames input and a [N, textDim] 'text' input are known`);
    }
    feeds[name] = new ort.Tensor('float32', new Float32Array(n * k), [n, k]);
  }
  return feeds;
}
