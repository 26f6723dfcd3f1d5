/**
 * ONNX Runtime sessions with execution-provider fallback.
 *
 * ONNX Runtime throws at session creation when a provider's libraries are missing (e.g. the CUDA
 * provider on a CPU-only host: "OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load
 * shared library"; ORT's own log line above it names the library). We try the providers in order,
 * one per attempt, log why each unavailable one was skipped, and report the first that works.
 * Model errors (missing, not ONNX, truncated) are not provider errors: they stop the search.
 */
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ort, type Ort } from './ort.js';
import { log } from '../util/log.js';

/** Provider names onnxruntime-node accepts (which of them can start depends on the build and host). */
export const KNOWN_PROVIDERS = ['tensorrt', 'cuda', 'cpu', 'webgpu', 'dml', 'coreml', 'xnnpack', 'qnn', 'nnapi'] as const;
/** One of {@link KNOWN_PROVIDERS}. */
export type ProviderName = (typeof KNOWN_PROVIDERS)[number];

/** Default order: TensorRT, then CUDA (Jetson / NVIDIA hosts), then the CPU. */
export const DEFAULT_PROVIDERS: readonly ProviderName[] = ['tensorrt', 'cuda', 'cpu'];

/** Options of {@link createSession}. */
export interface SessionOptions {
  /** providers to try, in order (default {@link DEFAULT_PROVIDERS}) */
  providers?: readonly ProviderName[];
  /** intra-op threads (ORT's default when omitted: one per physical core) */
  intraOpThreads?: number;
  /** inter-op threads (default ORT's) */
  interOpThreads?: number;
  /**
   * extra options per provider, passed as `{ name, ...options }` in `executionProviders` (e.g. the
   * TensorRT `trt_*` keys built by src/device/session-options.ts); providers without an entry are
   * passed by name
   */
  providerOptions?: Partial<Record<ProviderName, Record<string, string | number | boolean>>>;
}

/** A created session and the provider it runs on. */
export interface OpenSession {
  session: Ort.InferenceSession;
  /** the provider the session was created with */
  provider: ProviderName;
  /** providers tried before it, and why each failed */
  skipped: { provider: ProviderName; reason: string }[];
}

/** ORT messages that mean the model file itself is bad, whatever the provider. */
const MODEL_ERROR = /Load model|Protobuf parsing failed|INVALID_PROTOBUF|INVALID_GRAPH|NO_SUCHFILE|model\.cc|ModelProto/i;

/** Error thrown for a model file ORT cannot load; `path` names the file. */
export class ModelLoadError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

const PROVIDER_LIBS: Partial<Record<ProviderName, string[]>> = {
  cuda: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'],
  tensorrt: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'],
};

/**
 * For the GPU providers: the reason they cannot start when their ONNX Runtime provider libraries
 * are absent from the folder of onnxruntime-node's native binding (where ORT loads them from), or
 * null when present (or for providers without such libraries, e.g. cpu). Linux only; elsewhere
 * null, leaving the decision to ORT.
 */
export async function missingProviderLibrary(provider: ProviderName): Promise<string | null> {
  const libs = PROVIDER_LIBS[provider];
  if (!libs || process.platform !== 'linux') return null;
  let dirs: string[];
  try {
    const root = path.join(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin');
    const napi = (await fs.readdir(root)).filter((d) => d.startsWith('napi-v'));
    dirs = napi.map((d) => path.join(root, d, 'linux', process.arch));
  } catch {
    return null;
  }
  for (const dir of dirs) {
    const present = await Promise.all(libs.map((l) => fs.stat(path.join(dir, l)).then(() => true, () => false)));
    if (present.every(Boolean)) return null;
  }
  return `${libs.join(' + ')} not found beside onnxruntime-node's binding (${dirs.join(', ')}); install onnxruntime-node with its GPU libraries (without ONNXRUNTIME_NODE_INSTALL=skip) or a Jetson build`;
}

/**
 * Opens `modelPath` with the first provider of `opts.providers` that ONNX Runtime can start.
 * `modelPath` may also be the model's bytes (with `label` naming it in messages).
 * @throws ModelLoadError when the file is missing or empty, or ORT cannot parse it ("not a valid
 *   ONNX model, or truncated; re-export it with 'sfn-edge export'");
 *   Error for an unknown provider name, or when no provider in the list can start (lists each reason).
 */
export async function createSession(modelPath: string | Uint8Array, opts: SessionOptions = {}, label = typeof modelPath === 'string' ? modelPath : '<model bytes>'): Promise<OpenSession> {
  const providers = opts.providers ?? DEFAULT_PROVIDERS;
  if (providers.length === 0) throw new Error('no execution provider given; pass e.g. ["cuda", "cpu"]');
  for (const p of providers)
    if (!(KNOWN_PROVIDERS as readonly string[]).includes(p)) throw new Error(`unknown execution provider '${p}'; known: ${KNOWN_PROVIDERS.join(', ')}`);
  if (typeof modelPath === 'string') {
    const st = await fs.stat(modelPath).catch(() => null);
    if (!st) throw new ModelLoadError(modelPath, `model file ${modelPath} not found`);
    if (!st.isFile()) throw new ModelLoadError(modelPath, `model path ${modelPath} is not a file`);
    if (st.size === 0) throw new ModelLoadError(modelPath, `model file ${modelPath} is empty; re-export it with 'sfn-edge export'`);
  }
  const base: Ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    ...(opts.intraOpThreads !== undefined ? { intraOpNumThreads: opts.intraOpThreads } : {}),
    ...(opts.interOpThreads !== undefined ? { interOpNumThreads: opts.interOpThreads } : {}),
  };
  const skipped: { provider: ProviderName; reason: string }[] = [];
  for (const provider of providers) {
    const missing = await missingProviderLibrary(provider);
    if (missing) {
      // skip without asking ORT, which would print its own native error line first
      skipped.push({ provider, reason: missing });
      log.info({ model: label, provider, reason: missing }, `execution provider '${provider}' not installed, trying the next one`);
      continue;
    }
    try {
      const extra = opts.providerOptions?.[provider];
      const o = { ...base, executionProviders: [extra ? { ...extra, name: provider } : provider] };
      const session = typeof modelPath === 'string' ? await ort.InferenceSession.create(modelPath, o) : await ort.InferenceSession.create(modelPath, o);
      log.debug({ model: label, provider, skipped: skipped.map((s) => s.provider) }, 'onnx runtime session ready');
      return { session, provider, skipped };
    } catch (err) {
      const reason = (err as Error).message;
      if (MODEL_ERROR.test(reason))
        throw new ModelLoadError(label, `cannot load ONNX model ${label}: it is not a valid ONNX model, or it is truncated (${reason.split('\n')[0]}); re-export it with 'sfn-edge export' or restore the file`);
      skipped.push({ provider, reason });
      log.warn({ model: label, provider, reason }, `execution provider '${provider}' unavailable, trying the next one`);
    }
  }
  throw new Error(`no execution provider could start for ${label}: ${skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ')}`);
}
