/**
 * The VLM captioner: a local vision-language captioning model folder (Hugging Face layout with ONNX
 * weights: `config.json`, `preprocessor_config.json`, `tokenizer.json`, `onnx/encoder_model*.onnx`,
 * `onnx/decoder_model*.onnx`), run with `@huggingface/transformers` with remote models disabled, so
 * nothing is downloaded. Used when a model folder is configured; the detector captioner is the
 * default. `@huggingface/transformers` is an optional dependency: install it on devices that use
 * this captioner (`npm install @huggingface/transformers`).
 *
 * Free-text captions are embedded in the same text-feature space as the detector's (embed.ts): each
 * COCO class named in the text counts as one detection of score 1, and "fast"/"running"/"speeding"
 * mark the named objects as fast.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { COCO_LABELS } from './coco.js';
import type { CaptionRequest, CaptionResult, Captioner } from './captioner.js';
import { buildCaption, type CaptionObject } from './describe.js';
import { embedCaption } from './embed.js';

/** Files a VLM folder must hold (relative paths; `onnx/` holds at least one encoder and one decoder). */
export const VLM_REQUIRED_FILES = ['config.json', 'preprocessor_config.json', 'tokenizer.json'] as const;

/**
 * Checks a VLM model folder and returns its absolute path.
 * @throws Error when no folder is given, it does not exist, or files are missing (lists them and
 *   says what to do).
 */
export function checkVlmFolder(dir: string | undefined): string {
  if (!dir) throw new Error('the vlm captioner needs a local model folder: set caption.modelDir (or --model-dir) to a folder with an ONNX captioning model, or use the detector captioner');
  const folder = resolve(dir);
  if (!existsSync(folder)) throw new Error(`VLM model folder ${folder} does not exist; copy the model there or use the detector captioner`);
  const missing: string[] = VLM_REQUIRED_FILES.filter((f) => !existsSync(join(folder, f)));
  const onnxDir = join(folder, 'onnx');
  const onnx = existsSync(onnxDir) ? readdirSync(onnxDir) : [];
  if (!onnx.some((f) => f.startsWith('encoder_model') && f.endsWith('.onnx'))) missing.push('onnx/encoder_model.onnx');
  if (!onnx.some((f) => f.startsWith('decoder_model') && f.endsWith('.onnx'))) missing.push('onnx/decoder_model.onnx');
  if (missing.length > 0) throw new Error(`VLM model folder ${folder} is incomplete: missing ${missing.join(', ')}`);
  return folder;
}

/** Objects named in a free-text caption, for the text feature (see the file comment). */
export function objectsFromText(text: string): CaptionObject[] {
  const t = ` ${text.toLowerCase().replace(/[^a-z ]+/g, ' ')} `;
  const fast = /\b(fast|running|speeding|rushing|racing)\b/.test(t);
  const out: CaptionObject[] = [];
  for (const label of COCO_LABELS) {
    const words = label === 'person' ? ['person', 'people', 'man', 'woman', 'men', 'women', 'pedestrian', 'pedestrians', 'child'] : [label, `${label}s`];
    if (words.some((w) => t.includes(` ${w} `)))
      out.push({ label, score: 1, box: [0, 0, 1, 1], motion: { dx: 0, dy: 0, relSpeed: 0, state: fast ? 'fast' : 'walking pace', direction: 'none' } });
  }
  return out;
}

type ImageToText = (image: unknown, opts?: object) => Promise<Array<{ generated_text: string }>>;

/** Captions with a local VLM (see the file comment). */
export class VlmCaptioner implements Captioner {
  readonly name = 'vlm';
  private closed = false;
  private constructor(
    private readonly pipe: ImageToText,
    private readonly RawImage: new (data: Uint8ClampedArray, w: number, h: number, c: number) => unknown,
  ) {}

  /**
   * Loads the model in `dir` with remote models disabled.
   * @throws Error for a missing or incomplete folder (checkVlmFolder), a missing
   *   `@huggingface/transformers`, or a model it cannot load.
   */
  static async create(dir?: string): Promise<VlmCaptioner> {
    const folder = checkVlmFolder(dir);
    let hf: { env: { allowRemoteModels: boolean; allowLocalModels: boolean }; pipeline: (task: string, model: string, o?: object) => Promise<unknown>; RawImage: never };
    try {
      hf = (await import('@huggingface/transformers' as string)) as typeof hf;
    } catch (err) {
      throw new Error('the vlm captioner needs @huggingface/transformers: run `npm install @huggingface/transformers` on this device', { cause: err });
    }
    hf.env.allowRemoteModels = false;
    hf.env.allowLocalModels = true;
    try {
      const pipe = (await hf.pipeline('image-to-text', folder, { local_files_only: true })) as ImageToText;
      return new VlmCaptioner(pipe, hf.RawImage);
    } catch (err) {
      throw new Error(`cannot load the VLM captioning model in ${folder}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** @throws RangeError on frames of the wrong size; Error after `close()`. */
  async caption(req: CaptionRequest): Promise<CaptionResult> {
    if (this.closed) throw new Error('the vlm captioner was closed');
    const t0 = performance.now();
    const { frame, prev, width, height } = req;
    const plane = width * height;
    const C = frame.length / plane;
    if (C !== 1 && C !== 3) throw new RangeError(`frame has ${frame.length} values, expected 1 or 3 planes of ${width}x${height}`);
    if (prev && prev.length !== frame.length) throw new RangeError(`previous frame has ${prev.length} values, the frame ${frame.length}`);
    const rgb = new Uint8ClampedArray(plane * 3);
    for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round(255 * frame[(C === 1 ? 0 : c) * plane + i]!);
    const out = await this.pipe(new this.RawImage(rgb, width, height, 3), { max_new_tokens: 32 });
    const generated = (out[0]?.generated_text ?? '').trim();
    const objects = objectsFromText(generated);
    const built = buildCaption(objects, req.anomalyBox);
    // an empty generation falls back to the template's caption, so a caption is never empty
    const text = generated || built.text;
    const structured = { ...built, text };
    return { text, structured, embedding: embedCaption(objects), ms: performance.now() - t0, captioner: this.name };
  }

  /** Marks the captioner closed (the pipeline holds no session to release). Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
