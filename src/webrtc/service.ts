/**
 * Streaming in `sfn-edge run`: one session manager (token, ICE servers, cap, timeout from the
 * runtime configuration, the cap bounded by the device profile), MQTT signalling on the device's
 * client, the retained clip catalog, and the live feed the run loop pushes its frames into.
 * Configuration changes pushed over MQTT (`config/set` -> `streaming`) apply to new sessions at once.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { MqttClient } from 'mqtt';

import type { RuntimeConfig } from '../core/runtime-config.js';
import { webrtcFilter, WEBRTC_LEAVES } from '../mqtt/topics.js';
import { log } from '../util/log.js';
import { startCatalog, type Catalog } from './catalog.js';
import { LiveFeed } from './live.js';
import { SessionManager, type SessionSettings } from './sessions.js';
import { startSignalling, type Signalling } from './signalling.js';

/** Sessions allowed when no device profile is given. */
export const DEFAULT_MAX_SESSIONS = 2;

/** Options of {@link startStreaming}. */
export interface StreamingOptions {
  client: MqttClient;
  device: string;
  clipsDir: string;
  /** the `streaming` part of the runtime configuration */
  config: RuntimeConfig['streaming'];
  /** the device profile's `streaming.maxSessions` (default {@link DEFAULT_MAX_SESSIONS}) */
  profileMaxSessions?: number;
  /** the device profile's `streaming.liveMaxHeight`: caps `streaming.live_max_height` (rows) */
  profileLiveMaxHeight?: number;
  /**
   * Where the token made when `streaming.token` is not configured is kept (mode 0600), so that it
   * survives restarts and the log never holds it (`run`: `<state-dir>/streaming-token`). Without
   * it the token lives only in memory and the log says so.
   */
  tokenFile?: string;
}

/** Shortest token read back from a token file; a shorter or empty file is replaced. */
const MIN_TOKEN_CHARS = 8;

/**
 * The token of {@link StreamingOptions.tokenFile}: the file's first line when it holds one, else a
 * new random one (16 base64url characters, 96 bits) written there with mode 0600.
 * @throws Error when the file cannot be written (its folder is not writable).
 */
export function loadOrMakeToken(file: string | undefined): { token: string; made: boolean } {
  if (file) {
    try {
      const t = readFileSync(file, 'utf8').split('\n')[0]!.trim();
      if (t.length >= MIN_TOKEN_CHARS) return { token: t, made: false };
    } catch {
      // none yet
    }
  }
  const token = randomBytes(12).toString('base64url');
  if (file) writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, made: true };
}

/** Streaming as `run` holds it. */
export interface Streaming {
  readonly manager: SessionManager;
  readonly live: LiveFeed;
  readonly catalog: Catalog;
  /** The token in force (the configured one, or the one made at start). */
  readonly token: string;
  /** Applies a new `streaming` configuration to new sessions. */
  configure(c: RuntimeConfig['streaming']): void;
  /**
   * The live view's height cap in rows for configuration `c`: `c.live_max_height`, lowered to the
   * device profile's `streaming.liveMaxHeight` when it has one.
   */
  liveMaxHeight(c: RuntimeConfig['streaming']): number;
  /** Ends every session, unsubscribes, stops the catalog. */
  close(): Promise<void>;
}

/** Session settings from the configuration and the profile's cap. */
export function sessionSettings(c: RuntimeConfig['streaming'], token: string, profileMax = DEFAULT_MAX_SESSIONS): SessionSettings {
  const cap = Math.min(c.max_sessions ?? profileMax, profileMax);
  return {
    token, iceServers: c.ice_servers.map((s) => ({ ...s })), maxSessions: c.enabled ? cap : 0,
    sessionTimeoutMs: c.session_timeout_s * 1000, loop: c.loop_clips,
  };
}

/**
 * Starts the device's streaming side on a connected MQTT client.
 * @throws Error when the signalling subscription fails.
 */
export async function startStreaming(o: StreamingOptions): Promise<Streaming> {
  const profileMax = o.profileMaxSessions ?? DEFAULT_MAX_SESSIONS;
  let generated: string | undefined;
  let generatedMade = false;
  let warned = false;
  let noted = false;
  /**
   * The token in force for `c`: the configured one, else the one made (or kept in the token file)
   * once. Where to find a made token is a warning only while streaming is on (enabled, a cap above
   * 0): said once, also when a configuration change turns streaming on later; while it is off, a
   * debug line.
   */
  const tokenOf = (c: RuntimeConfig['streaming']): string => {
    if (c.token !== undefined) return c.token;
    if (generated === undefined) {
      // the token itself never goes to the log: logs are shipped and read by more people than viewers
      const { token: t, made } = loadOrMakeToken(o.tokenFile);
      generated = t;
      generatedMade = made;
    }
    if (warned) return generated;
    const on = sessionSettings(c, generated, profileMax).maxSessions > 0;
    if (on) {
      warned = true;
      // a token made now is news (warn, once); one kept from an earlier run is not (info)
      if (o.tokenFile) log[generatedMade ? 'warn' : 'info']({ token_file: o.tokenFile, made: generatedMade }, `streaming.token is not configured: viewers must present the token ${generatedMade ? 'made for' : 'kept for'} this device; read it from ${o.tokenFile} (or set streaming.token in the configuration to choose one)`);
      else log.warn('streaming.token is not configured: a token was made for this run and is kept only in memory; set streaming.token in the configuration so that viewers can present it');
    } else if (!noted) {
      noted = true;
      log.debug({ ...(o.tokenFile ? { token_file: o.tokenFile } : {}), enabled: c.enabled }, 'streaming is off; streaming.token is not configured (a token is kept for when it is turned on)');
    }
    return generated;
  };
  let token = tokenOf(o.config);
  const live = new LiveFeed(o.config.live_fps);
  const manager = new SessionManager(sessionSettings(o.config, token, profileMax), { clipsDir: o.clipsDir, live });
  const signalling: Signalling = await startSignalling({ client: o.client, device: o.device, manager });
  const catalog = startCatalog({ client: o.client, device: o.device, clipsDir: o.clipsDir });
  // "ready" only when streaming is on (enabled, a cap above 0): at start, or when a change turns it on
  let ready = false;
  const sayReady = (): void => {
    if (manager.current.maxSessions <= 0) ready = false;
    if (ready || manager.current.maxSessions <= 0) return;
    ready = true;
    log.info({ max_sessions: manager.current.maxSessions, topic: webrtcFilter(o.device, WEBRTC_LEAVES.offer) }, 'webrtc streaming ready');
  };
  sayReady();
  return {
    manager, live, catalog,
    get token() {
      return token;
    },
    configure: (c) => {
      token = tokenOf(c);
      manager.configure(sessionSettings(c, token, profileMax));
      live.setMaxFps(c.live_fps);
      sayReady();
    },
    liveMaxHeight: (c) => Math.min(c.live_max_height, o.profileLiveMaxHeight ?? Infinity),
    close: async () => {
      catalog.close();
      await signalling.close();
      manager.closeAll();
    },
  };
}
