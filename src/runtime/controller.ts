/**
 * The configuration in force at run time and its layers: defaults <- `--config` file <- remote
 * changes (`config/set`). Remote changes are validated as a whole (core/runtime-config.ts `applyPatch`), applied
 * to listeners without a restart, and persisted atomically as `{version, layer, started}` in the
 * state folder (mode 0600), so they survive a restart; the `--config` file itself is never rewritten.
 *
 * `started` is the last remote layer under which the source delivered frames (`markStarted`). A
 * change that passed its checks but then fails to start (its source dies before a frame), and a
 * persisted layer that fails at the next start, are undone by `fallBack`: back to `started`, or to
 * the file layer when nothing has started yet. So no message from the network can keep a device
 * down across restarts.
 */
import { readFile } from 'node:fs/promises';
import type { ConfigAck } from '../mqtt/reporter.js';
import { FILE_ONLY_KEYS, applyPatch, deepMerge, defaultConfig, loadLayer, writeJsonAtomic, type RuntimeConfig } from '../core/runtime-config.js';

/** A remote layer and the version it had. */
interface Layer {
  version: number;
  layer: Record<string, unknown>;
}

/** Holds the running configuration; `apply` is the `config/set` entry point. */
export class ConfigController {
  private listeners: ((c: RuntimeConfig) => void)[] = [];
  private validators: ((next: RuntimeConfig, prev: RuntimeConfig) => Promise<void>)[] = [];

  private constructor(
    private config: RuntimeConfig,
    private fileConfig: RuntimeConfig,
    private remote: Record<string, unknown>,
    private ver: number,
    private readonly persistPath: string | null,
    private started: Layer | null,
  ) {}

  /**
   * Builds the layers: defaults, then `configFile` (optional), then the persisted remote layer at
   * `persistPath` (optional; an invalid persisted layer is ignored with its reason in `warning`).
   * @throws Error naming the file when `configFile` is unreadable or invalid.
   */
  static async open(configFile: string | undefined, persistPath: string | null): Promise<{ controller: ConfigController; warning?: string }> {
    const fileConfig = configFile ? (await loadLayer(configFile, defaultConfig())).config : defaultConfig();
    return ConfigController.over(fileConfig, persistPath);
  }

  /**
   * The same layers over `base` instead of a file (a camera's configuration: the device-wide values
   * with the camera's own, core/runtime-config.ts `cameraConfig`), with its own persisted remote layer.
   */
  static async over(fileConfig: RuntimeConfig, persistPath: string | null): Promise<{ controller: ConfigController; warning?: string }> {
    let warning: string | undefined;
    if (persistPath) {
      try {
        const saved = JSON.parse(await readFile(persistPath, 'utf8')) as { version?: unknown; layer?: unknown; started?: { version?: unknown; layer?: unknown } };
        const started = saved.started && applyPatch(JSON.stringify(saved.started.layer ?? {}), fileConfig).ok
          ? { version: typeof saved.started.version === 'number' ? saved.started.version : 0, layer: saved.started.layer as Record<string, unknown> }
          : null;
        const r = applyPatch(JSON.stringify(saved.layer ?? {}), fileConfig);
        const version = typeof saved.version === 'number' ? saved.version : 0;
        if (r.ok) return { controller: new ConfigController(r.config, fileConfig, r.patch, version, persistPath, started) };
        warning = `${persistPath}: persisted remote configuration ignored: ${r.error}`;
        if (started) {
          const back = applyPatch(JSON.stringify(started.layer), fileConfig);
          if (back.ok) return { controller: new ConfigController(back.config, fileConfig, started.layer, version, persistPath, started), warning: `${warning}; using the last one that started (version ${started.version})` };
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warning = `${persistPath}: unreadable, ignored: ${(err as Error).message}`;
      }
    }
    return { controller: new ConfigController(fileConfig, fileConfig, {}, 0, persistPath, null), ...(warning ? { warning } : {}) };
  }

  /** The configuration in force. */
  get current(): RuntimeConfig {
    return this.config;
  }

  /** Version of the configuration in force (0 = no remote change yet; +1 per applied change). */
  get version(): number {
    return this.ver;
  }

  /** The remote layer in force (what `config/set` changed over the file layer; `{}` when none), a copy. */
  get remoteLayer(): Record<string, unknown> {
    return structuredClone(this.remote);
  }

  /** Where the remote layer is persisted (`<state-dir>/remote-config.json`), or null when it is not. */
  get file(): string | null {
    return this.persistPath;
  }

  /** Payload of the retained `config/state`. */
  state(): { version: number; config: RuntimeConfig } {
    return { version: this.ver, config: this.config };
  }

  /** Calls `fn` with every newly applied configuration. */
  onChange(fn: (c: RuntimeConfig) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Adds a check that needs I/O (e.g. loading a new model) before a change is accepted: it throws
   * (with the reason) to refuse the change. Runs after the schema check, before any listener.
   */
  onValidate(fn: (next: RuntimeConfig, prev: RuntimeConfig) => Promise<void>): void {
    this.validators.push(fn);
  }

  /**
   * Validates a `config/set` payload (schema, then the `onValidate` checks); when valid, applies it
   * (listeners), bumps the version and persists the remote layer atomically. A listener that throws
   * refuses the change (listeners are called again with the previous configuration).
   * @returns the ack: `{version, ok: true, error: null}` or `{version (unchanged), ok: false, error}`.
   */
  async apply(payload: Uint8Array | string): Promise<ConfigAck> {
    const r = applyPatch(payload, this.config);
    if (!r.ok) return { version: this.ver, ok: false, error: r.error };
    const fileOnly = Object.keys(r.patch).find((k) => Object.hasOwn(FILE_ONLY_KEYS, k));
    if (fileOnly) return { version: this.ver, ok: false, error: `${fileOnly}: ${FILE_ONLY_KEYS[fileOnly]}` };
    const prev = this.config;
    for (const v of this.validators) {
      try {
        await v(r.config, prev);
      } catch (err) {
        return { version: this.ver, ok: false, error: (err as Error).message };
      }
    }
    try {
      for (const l of this.listeners) l(r.config);
    } catch (err) {
      for (const l of this.listeners) l(prev);
      return { version: this.ver, ok: false, error: `not applicable: ${(err as Error).message}` };
    }
    const layer = deepMerge(this.remote, r.patch);
    const version = this.ver + 1;
    await this.persist(version, layer);
    this.config = r.config;
    this.remote = layer;
    this.ver = version;
    return { version, ok: true, error: null };
  }

  /** Whether the configuration in force differs from the last one that started (a remote change not yet proven). */
  get unproven(): boolean {
    return this.ver !== (this.started?.version ?? 0);
  }

  /**
   * Records the configuration in force as the last one that started (the source delivered a
   * frame under it); persisted, so a later start can fall back to it. Cheap when nothing changed.
   */
  async markStarted(): Promise<void> {
    if (!this.unproven) return;
    this.started = { version: this.ver, layer: this.remote };
    await this.persist(this.ver, this.remote);
  }

  /**
   * Undoes the remote changes since the last configuration that started (or all of them, back to
   * the file layer, when none has): a new version, persisted, passed to the listeners.
   * @returns the new version, or null when there is nothing to fall back to (the configuration in
   *   force is the last one that started).
   */
  async fallBack(): Promise<number | null> {
    if (!this.unproven) return null;
    const back = this.started ?? { version: 0, layer: {} };
    const r = applyPatch(JSON.stringify(back.layer), this.fileConfig);
    const config = r.ok ? r.config : this.fileConfig;
    const layer = r.ok ? back.layer : {};
    const version = this.ver + 1;
    await this.persist(version, layer);
    this.config = config;
    this.remote = layer;
    this.ver = version;
    this.started = { version, layer };
    for (const l of this.listeners) {
      try {
        l(config);
      } catch {
        // the configuration that started before is applicable; a listener's complaint is not fatal here
      }
    }
    return version;
  }

  private async persist(version: number, layer: Record<string, unknown>): Promise<void> {
    if (this.persistPath) await writeJsonAtomic(this.persistPath, { version, layer, ...(this.started ? { started: this.started } : {}) });
  }

  /**
   * Replaces the layer below the remote one (a camera's base after a device-wide change) and
   * re-applies the remote layer over it; listeners get the result. A remote layer that no longer
   * fits the new base is kept aside: the base alone is in force, and the reason is returned.
   * @returns null, or why the remote layer could not be re-applied.
   */
  rebase(base: RuntimeConfig): string | null {
    this.fileConfig = base;
    const r = applyPatch(JSON.stringify(this.remote), base);
    this.config = r.ok ? r.config : base;
    for (const l of this.listeners) {
      try {
        l(this.config);
      } catch {
        // the base was validated as a whole; a listener's complaint is not fatal here
      }
    }
    return r.ok ? null : r.error;
  }

  /** The file layer's configuration (without remote changes). */
  get fromFile(): RuntimeConfig {
    return this.fileConfig;
  }
}
