/**
 * ONNX Runtime session options from a device profile: the provider order, the per-provider options
 * (TensorRT `trt_*` keys, CUDA device) and thread counts, in the shape `createSession` takes.
 *
 * TensorRT builds an engine per (model, TensorRT version, GPU); building takes minutes on a Jetson,
 * so engines go to a cache folder keyed by exactly those three, and the timing cache (kernel
 * timings, shareable between models on one GPU) sits in the cache root. Key names follow ONNX
 * Runtime's TensorRT execution-provider documentation (trt_fp16_enable, trt_engine_cache_path, ...).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { readManifest } from '../core/manifest.js';
import { createSession, type OpenSession, type ProviderName, type SessionOptions } from '../inference/session.js';
import { hostFacts } from './detect.js';
import type { DeviceProfile } from './profile.js';

/** What keys the TensorRT engine cache besides the profile. */
export interface EngineKey {
  /** lowercase hex SHA-256 of the model (from its manifest) */
  modelSha256: string;
  /** TensorRT version, e.g. '8.5.2' ('unknown' when it cannot be found) */
  tensorrtVersion: string;
  /** GPU name, e.g. 'NVIDIA Jetson Orin Nano 8GB' */
  gpuName: string;
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-+|-+$/g, '') || 'unknown';

/**
 * The engine cache folder of one model on one TensorRT + GPU:
 * `<root>/<sha256[0:16]>-trt<version>-<gpu slug>`.
 * @throws Error when `modelSha256` is not 64 hex digits.
 */
export function engineCacheDir(root: string, k: EngineKey): string {
  if (!/^[0-9a-f]{64}$/.test(k.modelSha256)) throw new Error(`engine cache key: model sha256 must be 64 lowercase hex digits, got '${k.modelSha256}'`);
  return path.join(root, `${k.modelSha256.slice(0, 16)}-trt${slug(k.tensorrtVersion)}-${slug(k.gpuName)}`);
}

/**
 * `createSession` options for `profile` and the model identified by `key`: providers in the
 * profile's order; TensorRT options (fp16/int8 flags, workspace in bytes, engine cache folder from
 * {@link engineCacheDir}, timing cache in the cache root, builder optimisation level); CUDA device;
 * intra/inter-op threads (0 = ORT's default, omitted).
 */
export function sessionOptionsFor(profile: DeviceProfile, key: EngineKey): SessionOptions {
  const providerOptions: NonNullable<SessionOptions['providerOptions']> = {};
  const trt = profile.tensorrt;
  if (profile.providers.includes('tensorrt') && trt) {
    providerOptions.tensorrt = {
      deviceId: profile.cuda?.deviceId ?? 0,
      trt_fp16_enable: trt.fp16,
      trt_int8_enable: trt.int8,
      trt_max_workspace_size: trt.workspaceMB * 1024 * 1024,
      trt_engine_cache_enable: true,
      trt_engine_cache_path: engineCacheDir(trt.engineCacheDir, key),
      trt_timing_cache_enable: trt.timingCache,
      trt_timing_cache_path: trt.engineCacheDir,
      trt_builder_optimization_level: trt.builderOptimizationLevel,
    };
  }
  if (profile.providers.includes('cuda')) providerOptions.cuda = { deviceId: profile.cuda?.deviceId ?? 0 };
  return {
    providers: profile.providers as readonly ProviderName[],
    providerOptions,
    ...(profile.threads.intraOp > 0 ? { intraOpThreads: profile.threads.intraOp } : {}),
    ...(profile.threads.interOp > 0 ? { interOpThreads: profile.threads.interOp } : {}),
  };
}

/**
 * The TensorRT version installed here, from the `libnvinfer.so.X.Y.Z` file name in the usual library
 * folders (JetPack and x86 CUDA installs); 'unknown' when there is none (e.g. this CPU-only host).
 */
export async function tensorrtVersion(dirs = ['/usr/lib/aarch64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/usr/local/cuda/lib64', '/usr/lib']): Promise<string> {
  for (const d of dirs) {
    const names = await fs.readdir(d).catch(() => [] as string[]);
    const hit = names.map((n) => /^libnvinfer\.so\.(\d+\.\d+\.\d+)/.exec(n)?.[1]).find((v) => v !== undefined);
    if (hit) return hit;
  }
  return 'unknown';
}

/**
 * Opens `modelPath` (checked against its manifest) with `profile`'s providers and options: the
 * engine cache key uses the manifest's sha256, {@link tensorrtVersion} and `gpuName` (default: the
 * Jetson device-tree model, else the first GPU systeminformation reports, else 'cpu').
 * @returns createSession's result (session, active provider, skipped providers with reasons).
 * @throws what readManifest and createSession throw (missing/mismatched model, no provider starts).
 */
export async function createProfileSession(modelPath: string, profile: DeviceProfile, gpuName?: string): Promise<OpenSession> {
  const { manifest, bytes } = await readManifest(modelPath);
  let gpu = gpuName;
  if (gpu === undefined) {
    const f = await hostFacts();
    gpu = f.deviceTreeModel ?? f.gpus[0] ?? 'cpu';
  }
  const opts = sessionOptionsFor(profile, { modelSha256: manifest.sha256, tensorrtVersion: await tensorrtVersion(), gpuName: gpu });
  return createSession(bytes, opts, modelPath);
}
