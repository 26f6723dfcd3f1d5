/**
 * The configuration in force at run time and its layers: defaults <- `--config` file <- remote
 * changes (`config/set`). Remote changes are validated as a whole (config.ts `applyPatch`), applied
 * to listeners without a restart, and persisted atomically as `{version, layer}` in the state
 * folder, so they survive a restart; the `--config` file itself is never rewritten.
 */
import { readFile } from 'node:fs/promises';
import type { ConfigAck } from '../mqtt/reporter.js';
import { applyPatch, deepMerge, defaultConfig, loadLayer, writeJsonAtomic, type RuntimeConfig } from './config.js';

/** Holds the running configuration; `apply` is the `config/set` entry point. */
export class ConfigController {
  private listeners: ((c: RuntimeConfig) => void)[] = [];
  private validators: ((next: RuntimeConfig, prev: RuntimeConfig) => Promise<void>)[] = [];

  private constructor(
    private config: RuntimeConfig,
    private readonly fileConfig: RuntimeConfig,
    private remote: Record<string, unknown>,
    private ver: number,
    private readonly persistPath: string | null,
  ) {}

  /**
   * Builds the layers: defaults, then `configFile` (optional), then the persisted remote layer at
   * `persistPath` (optional; an invalid persisted layer is ignored with its reason in `warning`).
   * @throws Error naming the file when `configFile` is unreadable or invalid.
   */
  static async open(configFile: string | undefined, persistPath: string | null): Promise<{ controller: ConfigController; warning?: string }> {
    const fileConfig = configFile ? (await loadLayer(configFile, defaultConfig())).config : defaultConfig();
    let remote: Record<string, unknown> = {};
    let version = 0;
    let warning: string | undefined;
    if (persistPath) {
      try {
        const saved = JSON.parse(await readFile(persistPath, 'utf8')) as { version?: unknown; layer?: unknown };
        const r = applyPatch(JSON.stringify(saved.layer ?? {}), fileConfig);
        if (r.ok) {
          remote = r.patch;
          version = typeof saved.version === 'number' ? saved.version : 0;
          return { controller: new ConfigController(r.config, fileConfig, remote, version, persistPath) };
        }
        warning = `${persistPath}: persisted remote configuration ignored: ${r.error}`;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warning = `${persistPath}: unreadable, ignored: ${(err as Error).message}`;
      }
    }
    return { controller: new ConfigController(fileConfig, fileConfig, remote, version, persistPath), ...(warning ? { warning } : {}) };
  }

  /** The configuration in force. */
  get current(): RuntimeConfig {
    return this.config;
  }

  /** Version of the configuration in force (0 = no remote change yet; +1 per applied change). */
  get version(): number {
    return this.ver;
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
    if (this.persistPath) await writeJsonAtomic(this.persistPath, { version, layer });
    this.config = r.config;
    this.remote = layer;
    this.ver = version;
    return { version, ok: true, error: null };
  }

  /** The file layer's configuration (without remote changes). */
  get fromFile(): RuntimeConfig {
    return this.fileConfig;
  }
}
