/**
 * Device profiles: what a device kind runs (model variant, input grid, batch, target fps), how
 * (execution providers in order, threads, TensorRT options) and within which memory budget.
 *
 * One zod tree is the single definition: the TypeScript type (`z.infer`), the validation of
 * `device-profiles/*.json` and the published JSON Schema (`device-profiles/schema.json`, generated
 * by {@link profileJsonSchema}; test/device/profile.test.ts fails when the file drifts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KNOWN_PROVIDERS } from '../inference/session.js';

/** Where the shipped profiles live (repository root `device-profiles/`). */
export const PROFILES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../device-profiles');

/** TensorRT execution-provider options (mapped to ORT's `trt_*` keys by session-options.ts). */
export const TensorRtSchema = z
  .object({
    fp16: z.boolean().default(true).describe('allow float16 kernels (trt_fp16_enable)'),
    int8: z.boolean().default(false).describe('allow int8 kernels; needed for explicit (QDQ) int8 models (trt_int8_enable)'),
    workspaceMB: z.number().int().min(16).max(65536).default(1024).describe('builder workspace limit in MiB (trt_max_workspace_size, bytes)'),
    engineCacheDir: z
      .string()
      .min(1)
      .default('/var/cache/sfn-edge/trt')
      .describe('engine cache root; a subfolder keyed by model sha256 + TensorRT version + GPU name holds the engines'),
    timingCache: z.boolean().default(true).describe('keep a TensorRT timing cache in the engine cache root (trt_timing_cache_enable)'),
    builderOptimizationLevel: z.number().int().min(0).max(5).default(3).describe('TensorRT builder optimisation level 0-5 (trt_builder_optimization_level)'),
  })
  .strict()
  .describe('TensorRT provider options');

/** A device profile; see the `.describe()` of each field. */
export const DeviceProfileSchema = z
  .object({
    $schema: z.string().optional().describe('path or URL of this JSON Schema (editors use it)'),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/).describe('profile id, the file name without .json (e.g. jetson-orin-nano-8gb)'),
    description: z.string().min(1).describe('the device kind in words'),
    match: z
      .object({
        kind: z.enum(['jetson', 'x86-64']).describe('device family'),
        jetsonModel: z
          .string()
          .optional()
          .describe('case-insensitive regular expression on /proc/device-tree/model (Jetson only)'),
        minMemoryMB: z.number().int().nonnegative().default(0).describe('least total memory (MiB) of a machine this profile fits'),
      })
      .strict()
      .describe('how `profile detect` recognises the device'),
    providers: z.array(z.enum(KNOWN_PROVIDERS)).min(1).describe('execution providers to try, in order (the first that starts is used)'),
    model: z
      .object({
        variant: z
          .string()
          .regex(/^(fp32|fp16|int8)\/[A-Za-z0-9._-]+$/)
          .describe('model variant as <precision>/<name>, the file models/<precision>/<name>.onnx'),
        width: z.number().int().positive().describe('input grid width (pixels); must equal the model manifest'),
        height: z.number().int().positive().describe('input grid height (pixels); must equal the model manifest'),
        color: z.enum(['gray', 'rgb']).describe('frame colour mode'),
        batch: z.number().int().min(1).max(64).default(1).describe('clips per inference call (cameras batched together)'),
      })
      .strict()
      .describe('which model the device runs'),
    targetFps: z.number().positive().max(240).describe('frames per second per camera the device must sustain'),
    threads: z
      .object({
        intraOp: z.number().int().min(0).max(256).describe('ORT intra-op threads (0 = ORT default: one per physical core)'),
        interOp: z.number().int().min(0).max(64).default(1).describe('ORT inter-op threads (0 = ORT default)'),
      })
      .strict()
      .describe('CPU thread counts'),
    memoryBudgetMB: z.number().int().min(64).describe('resident memory the process may use (MiB)'),
    streaming: z
      .object({
        maxSessions: z
          .number()
          .int()
          .min(0)
          .max(64)
          .default(2)
          .describe('most concurrent WebRTC sessions (flagged clips and live view) the device serves; each one costs a VP8 encoder and, for a clip, an ffmpeg decoder (0 = no streaming)'),
        liveMaxHeight: z
          .number()
          .int()
          .min(2)
          .max(4320)
          .optional()
          .describe("most rows of the live view (pixels); caps the runtime configuration's streaming.live_max_height, so a small device never encodes more than it can (e.g. 720 on a Nano)"),
      })
      .strict()
      .default({ maxSessions: 2 })
      .describe('WebRTC streaming limits'),
    tensorrt: TensorRtSchema.optional(),
    cuda: z
      .object({ deviceId: z.number().int().nonnegative().default(0).describe('CUDA device ordinal') })
      .strict()
      .optional()
      .describe('CUDA provider options'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.providers.includes('tensorrt') && !p.tensorrt)
      ctx.addIssue({ code: 'custom', path: ['tensorrt'], message: "providers include 'tensorrt' but the profile has no tensorrt options" });
    if (p.match.kind === 'jetson' && !p.match.jetsonModel)
      ctx.addIssue({ code: 'custom', path: ['match', 'jetsonModel'], message: 'a jetson profile needs match.jetsonModel' });
    const prec = p.model.variant.split('/')[0];
    if (prec === 'int8' && p.tensorrt && !p.tensorrt.int8)
      ctx.addIssue({ code: 'custom', path: ['tensorrt', 'int8'], message: 'an int8 model variant needs tensorrt.int8 = true' });
  })
  .describe('sfn-edge device profile');

/** A validated device profile (defaults filled). */
export type DeviceProfile = z.infer<typeof DeviceProfileSchema>;

/** Error for a profile that is missing or invalid; `fields` lists the dotted paths that are wrong. */
export class ProfileError extends Error {
  constructor(
    message: string,
    readonly fields: string[] = [],
  ) {
    super(message);
    this.name = 'ProfileError';
  }
}

/**
 * Validates `json` as a profile. `source` names it in messages.
 * @throws ProfileError naming every wrong field as a dotted path, e.g.
 *   `profile x.json is invalid: tensorrt.workspaceMB: Too small: expected number to be >=16`.
 */
export function parseProfile(json: unknown, source = '<profile>'): DeviceProfile {
  const r = DeviceProfileSchema.safeParse(json);
  if (r.success) return r.data;
  const fields = r.error.issues.map((i) => (i.path.length ? i.path.join('.') : '(root)'));
  const lines = r.error.issues.map((i, k) => {
    const keys = i.code === 'unrecognized_keys' ? ` (${i.keys.join(', ')})` : '';
    return `${fields[k]}: ${i.message}${keys}`;
  });
  throw new ProfileError(`profile ${source} is invalid: ${lines.join('; ')}`, fields);
}

/**
 * Loads a profile by name (from `dir`, default {@link PROFILES_DIR}) or by path (anything ending in
 * `.json` or containing a slash).
 * @throws ProfileError when it is missing (lists the known names), not JSON, or invalid.
 */
export async function loadProfile(nameOrPath: string, dir = PROFILES_DIR): Promise<DeviceProfile> {
  const file = nameOrPath.endsWith('.json') || nameOrPath.includes('/') ? nameOrPath : path.join(dir, `${nameOrPath}.json`);
  let raw: string;
  try {
    raw = await fs.readFile(file, 'utf8');
  } catch {
    const known = (await listProfiles(dir).catch(() => [])).map((p) => p.name);
    throw new ProfileError(`device profile '${nameOrPath}' not found (${file}); known: ${known.join(', ') || 'none'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ProfileError(`profile ${file} is not valid JSON (${(err as Error).message})`);
  }
  return parseProfile(json, file);
}

/** Every `*.json` profile in `dir` except `schema.json`, validated, sorted by name. */
export async function listProfiles(dir = PROFILES_DIR): Promise<DeviceProfile[]> {
  const names = (await fs.readdir(dir)).filter((f) => f.endsWith('.json') && f !== 'schema.json').sort();
  return Promise.all(names.map((f) => loadProfile(path.join(dir, f))));
}

/** The JSON Schema (draft 2020-12) of a profile file, generated from {@link DeviceProfileSchema}. */
export function profileJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(DeviceProfileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}
