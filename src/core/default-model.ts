/**
 * The default model of `run` and `eval --online` (used when neither `--model` nor a device profile's
 * installed `model.variant` names one): the file that `<models root>/default.json` names, e.g.
 *
 *   {"model": "fp32/sfn-lite-ped2.onnx"}
 *
 * The path is relative to the models root (the folder holding default.json). It is never chosen by
 * file-name order, so adding `models/fp32/mycam.onnx` does not change what `run` loads; a missing or
 * broken default.json is an error naming the file and how to fix it.
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';

/** Name of the file under the models root that names the default model. */
export const DEFAULT_MODEL_FILE = 'default.json';

/** Default models root, relative to the working folder. */
export const DEFAULT_MODELS_ROOT = 'models';

/**
 * The path of the default model: `<root>/<model>` for `<root>/default.json` = `{"model": "<model>"}`.
 * @param root models root (default `models`, relative to the working folder)
 * @returns the model file's path (`<root>/fp32/sfn-lite-ped2.onnx` for the committed default.json);
 *   its manifest is checked later, when the model is loaded
 * @throws Error naming `<root>/default.json` when it is missing, not JSON, has no `model` string,
 *   names a path that is absolute, leaves the root or does not end in `.onnx`, or names a file that
 *   does not exist; the message says what to write or to pass `--model <file.onnx>`.
 */
export async function defaultModel(root = DEFAULT_MODELS_ROOT): Promise<string> {
  return (await resolveDefault(root)).path;
}

/** {@link defaultModel}'s work: the checked relative path too. */
async function resolveDefault(root: string): Promise<{ rel: string; path: string }> {
  const file = join(root, DEFAULT_MODEL_FILE);
  const fix = `write ${file} as {"model": "<precision>/<name>.onnx"} (a path under ${root}/, e.g. "fp32/sfn-lite-ped2.onnx") or pass --model <file.onnx>`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`no model given and the default model file ${file} ${code === 'ENOENT' ? 'is missing' : `cannot be read (${(err as Error).message})`}; ${fix}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`the default model file ${file} is not valid JSON (${(err as Error).message}); ${fix}`);
  }
  const model = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as { model?: unknown }).model : undefined;
  if (typeof model !== 'string' || model.trim() === '') throw new Error(`the default model file ${file} has no "model" string; ${fix}`);
  const rel = normalize(model);
  if (isAbsolute(model) || rel === '..' || rel.startsWith(`..${sep}`)) throw new Error(`the default model file ${file} names "${model}", which is not a path inside ${root}/; ${fix}`);
  if (!rel.endsWith('.onnx')) throw new Error(`the default model file ${file} names "${model}", not an .onnx file; ${fix}`);
  const path = join(root, rel);
  const ok = await stat(path).then((s) => s.isFile(), () => false);
  if (!ok) throw new Error(`the default model file ${file} names ${path}, which does not exist; install that model (with its .manifest.json beside it), point ${file} at an installed one (see \`sfn-edge models\`) or pass --model <file.onnx>`);
  return { rel, path };
}

/**
 * The default model under `root` as a variant name (`<precision>/<name>`, as `sfn-edge models` and
 * device profiles write it; `fp32/sfn-lite-ped2` for the committed default.json) and its path.
 * @throws Error as {@link defaultModel}.
 */
export async function defaultModelVariant(root = DEFAULT_MODELS_ROOT): Promise<{ variant: string; path: string }> {
  const { rel, path } = await resolveDefault(root);
  return { variant: rel.replace(/\.onnx$/, '').split(sep).join('/'), path };
}

/** {@link defaultModelVariant}'s variant, or null when default.json is missing or unusable (for tables that must not fail on it). */
export async function defaultVariant(root = DEFAULT_MODELS_ROOT): Promise<string | null> {
  return defaultModelVariant(root).then((d) => d.variant, () => null);
}
