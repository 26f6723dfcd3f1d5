/**
 * `sfn-edge config show|reset --state-dir <dir>`: the remote configuration that `config/set` saved
 * in `<state-dir>/remote-config.json` (runtime/controller.ts), which `run` re-applies at every
 * start over its `--config` file, shown or cleared without starting the device.
 */
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { redactLayer } from '../core/runtime-config.js';

/** What `config show` prints (one JSON object on stdout). */
export interface RemoteConfigView {
  file: string;
  /** false when no change was ever applied (or the file was reset) */
  present: boolean;
  /** version of the saved layer (+1 per applied config/set) */
  version?: number;
  /** the saved layer, secrets replaced (core/runtime-config.ts redactLayer) */
  layer?: unknown;
  /** the last layer under which the source delivered frames, the roll-back target */
  started?: { version: number; layer: unknown } | null;
}

/** Path of the persisted remote layer in a state folder. */
export function remoteConfigFile(stateDir: string): string {
  return join(resolve(stateDir), 'remote-config.json');
}

/**
 * Reads the saved remote configuration of a state folder.
 * @throws Error naming the file when it exists but is not readable JSON (with what to do).
 */
export async function showRemoteConfig(stateDir: string): Promise<RemoteConfigView> {
  const file = remoteConfigFile(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { file, present: false };
    throw new Error(`${file}: cannot be read (${(err as Error).message}); check its permissions`);
  }
  let saved: { version?: unknown; layer?: unknown; started?: { version?: unknown; layer?: unknown } | null };
  try {
    saved = JSON.parse(text) as typeof saved;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message}); run ignores it at start. Clear it with \`sfn-edge config reset --state-dir ${stateDir}\``);
  }
  return {
    file, present: true,
    version: typeof saved.version === 'number' ? saved.version : 0,
    layer: redactLayer(saved.layer ?? {}),
    started: saved.started ? { version: typeof saved.started.version === 'number' ? saved.started.version : 0, layer: redactLayer(saved.started.layer ?? {}) } : null,
  };
}

/**
 * Removes the saved remote configuration, so the next `run` uses its `--config` file and defaults.
 * @returns the file and the version removed (null when there was none).
 */
export async function resetRemoteConfig(stateDir: string): Promise<{ file: string; removed: number | null }> {
  const file = remoteConfigFile(stateDir);
  let version: number | null = null;
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as { version?: unknown };
    version = typeof saved.version === 'number' ? saved.version : 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { file, removed: null };
    version = 0; // unreadable or invalid: removed all the same
  }
  await rm(file, { force: true });
  return { file, removed: version };
}

/** The `config` verb's actions: prints to stdout (show: JSON; reset: one line). */
export async function runConfigCommand(action: string, o: { stateDir: string }): Promise<void> {
  if (action === 'show') {
    const v = await showRemoteConfig(o.stateDir);
    process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
    if (!v.present) process.stderr.write(`no remote configuration in ${v.file}: run uses its --config file and the defaults\n`);
    return;
  }
  if (action === 'reset') {
    const r = await resetRemoteConfig(o.stateDir);
    process.stdout.write(r.removed === null ? `nothing to reset: ${r.file} does not exist\n` : `removed ${r.file} (version ${r.removed}); the next run uses its --config file and the defaults\n`);
    return;
  }
  throw new Error(`config: unknown action '${action}'; use \`sfn-edge config show\` or \`sfn-edge config reset\` (with --state-dir <dir>)`);
}
