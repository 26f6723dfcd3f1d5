/**
 * The model host of `run`: ONNX Runtime sessions by model file, shared by every camera that runs
 * the same model (one session per model, reference-counted), loaded with the device profile's
 * providers, threads and TensorRT options. A {@link ModelSlot} is one camera's model: the one in
 * use and one staged by a `config/set`, swapped in at the next source (re)start.
 */
import { resolve } from 'node:path';
import { hostFacts } from '../device/detect.js';
import type { DeviceProfile } from '../device/profile.js';
import { sessionOptionsFor, tensorrtVersion } from '../device/session-options.js';
import { readManifest } from '../core/manifest.js';
import { ClipBatcher } from '../inference/batcher.js';
import { OnnxPredictor } from '../inference/predictor.js';
import type { Predictor } from '../core/predictor.js';
import type { ProviderName } from '../inference/session.js';
import type { FrameSpec } from '../core/frame.js';
import { log } from '../util/log.js';
import type { Service } from './services.js';

/** How the host loads models. */
export interface ModelHostOptions {
  /** the device profile (providers, threads, TensorRT options), or null: `providers` as given */
  profile: DeviceProfile | null;
  providers: ProviderName[];
  /** clips per predict call */
  batchSize: number;
  /**
   * batch the clips of the cameras that share a model into one predict call, each waiting at most
   * this long (ms; one frame interval), inference/batcher.ts; unset: every camera calls on its own
   */
  batchWaitMs?: number;
}

interface Entry {
  loading: Promise<OnnxPredictor>;
  refs: number;
}

/** ONNX Runtime sessions by model file (see the file comment). */
export class ModelHost implements Service {
  readonly name = 'model host';
  private readonly sessions = new Map<string, Entry>();
  private readonly batchers = new Map<OnnxPredictor, ClipBatcher>();
  /** sessions created so far (a second camera on the same model creates none) */
  loads = 0;

  constructor(private readonly o: ModelHostOptions) {}

  async start(): Promise<void> {}

  /** Model files with an open session now. */
  get open(): string[] {
    return [...this.sessions.keys()];
  }

  /**
   * The session of `file`, shared with every other holder of the same file (by absolute path);
   * release it with {@link release}.
   * @throws what OnnxPredictor.load throws (missing file or manifest, a provider whose libraries are missing).
   */
  async acquire(file: string): Promise<OnnxPredictor> {
    const key = resolve(file);
    let e = this.sessions.get(key);
    if (!e) {
      const entry: Entry = { loading: this.load(file), refs: 0 };
      entry.loading.catch(() => {
        if (this.sessions.get(key) === entry) this.sessions.delete(key);
      });
      this.sessions.set(key, entry);
      e = entry;
    }
    e.refs += 1;
    try {
      return await e.loading;
    } catch (err) {
      e.refs -= 1;
      throw err;
    }
  }

  /**
   * A camera's view of `p`: with {@link ModelHostOptions.batchWaitMs}, a member of the one batcher
   * of `p` (its clips go in one call with the other cameras' on the same model); else `p` itself.
   */
  viewOf(p: OnnxPredictor): Predictor {
    const wait = this.o.batchWaitMs;
    if (wait === undefined) return p;
    let b = this.batchers.get(p);
    if (!b) {
      b = new ClipBatcher(p, wait, p.batchSize);
      this.batchers.set(p, b);
    }
    return b.member();
  }

  /** The batcher of `p`, when there is one (its call and clip counts). */
  batcherOf(p: OnnxPredictor): ClipBatcher | undefined {
    return this.batchers.get(p);
  }

  /** Gives back one hold of `p`; the last one disposes of its session. */
  async release(p: OnnxPredictor): Promise<void> {
    const key = resolve(p.modelPath);
    const e = this.sessions.get(key);
    if (!e) return;
    e.refs -= 1;
    if (e.refs > 0) return;
    this.sessions.delete(key);
    this.dropBatcher(p);
    await p.dispose();
  }

  /** Disposes of every session still held. */
  async stop(): Promise<void> {
    for (const p of [...this.batchers.keys()]) this.dropBatcher(p);
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const e of all) await e.loading.then((p) => p.dispose(), () => undefined);
  }

  /** Forgets the batcher of `p`, logging what it batched. */
  private dropBatcher(p: OnnxPredictor): void {
    const b = this.batchers.get(p);
    if (!b) return;
    this.batchers.delete(p);
    log.info({ model: p.modelPath, calls: b.counts.calls, clips: b.counts.clips, clips_per_call: b.counts.calls ? +(b.counts.clips / b.counts.calls).toFixed(2) : 0 }, 'model host: clips of the cameras on this model, batched');
  }

  private async load(file: string): Promise<OnnxPredictor> {
    this.loads += 1;
    const p = await this.openSession(file);
    log.info({ model: file, provider: p.provider, sessions: this.loads }, 'model host: ONNX Runtime session opened (shared by every camera on this model)');
    return p;
  }

  private async openSession(file: string): Promise<OnnxPredictor> {
    const { profile, providers, batchSize } = this.o;
    if (!profile) return OnnxPredictor.load(file, { providers, batchSize });
    // the device profile decides providers, threads and TensorRT options (engine cache keyed by
    // the model's sha256 + TensorRT version + GPU)
    const { manifest } = await readManifest(file);
    const facts = await hostFacts();
    const session = sessionOptionsFor(profile, { modelSha256: manifest.sha256, tensorrtVersion: await tensorrtVersion(), gpuName: facts.deviceTreeModel ?? facts.gpus[0] ?? 'cpu' });
    return OnnxPredictor.load(file, { session, batchSize });
  }
}

/** One camera's model: the one in use, and one staged by `config/set` until the next source (re)start. */
export class ModelSlot {
  private staged: { file: string; predictor: OnnxPredictor } | null = null;

  private constructor(private readonly host: ModelHost, public file: string, public predictor: OnnxPredictor) {}

  /**
   * Takes `file` from the host.
   * @throws what {@link ModelHost.acquire} throws.
   */
  static async open(host: ModelHost, file: string): Promise<ModelSlot> {
    return new ModelSlot(host, file, await host.acquire(file));
  }

  /** Whether a staged model waits for the next source (re)start. */
  get pending(): boolean {
    return this.staged !== null;
  }

  /**
   * Loads `file` and stages it (replacing a model staged before); nothing when it is the model in
   * use and none is staged.
   * @throws Error `model: ...` when it does not load, or its grid or colour mode differs from `spec`
   *   (only variants with the same grid can be swapped at run time).
   */
  async stage(file: string, spec: FrameSpec): Promise<void> {
    if (file === this.file && !this.staged) return;
    const p = await this.host.acquire(file).catch((err: unknown) => {
      throw new Error(`model: cannot load ${file}: ${(err as Error).message}`);
    });
    const a = p.spec;
    if (a.width !== spec.width || a.height !== spec.height || a.color !== spec.color) {
      await this.host.release(p);
      throw new Error(`model: ${file} takes ${a.width}x${a.height} ${a.color}, the running model ${spec.width}x${spec.height} ${spec.color}; only variants with the same grid can be swapped at run time`);
    }
    if (this.staged) await this.host.release(this.staged.predictor);
    this.staged = { file, predictor: p };
  }

  /** Stages `file` when it is not the model in use (a roll-back); loads without the grid check. */
  async stageBack(file: string): Promise<void> {
    if (file === this.file || this.staged) return;
    this.staged = { file, predictor: await this.host.acquire(file) };
  }

  /** Puts the staged model in use and gives the old one back. @returns whether there was one. */
  async swap(): Promise<boolean> {
    const s = this.staged;
    if (!s) return false;
    this.staged = null;
    await this.host.release(this.predictor);
    this.predictor = s.predictor;
    this.file = s.file;
    return true;
  }

  /** Gives back the model in use and the staged one. */
  async close(): Promise<void> {
    if (this.staged) await this.host.release(this.staged.predictor);
    this.staged = null;
    await this.host.release(this.predictor);
  }
}
