/**
 * Streaming in `sfn-edge run`: one session manager (token, ICE servers, cap, timeout from the
 * runtime configuration, the cap bounded by the device profile), MQTT signalling on the device's
 * client, the retained clip catalog, and the live feed the run loop pushes its frames into.
 * Configuration changes pushed over MQTT (`config/set` -> `streaming`) apply to new sessions at once.
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';

import type { RuntimeConfig } from '../runtime/config.js';
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
  const tokenOf = (c: RuntimeConfig['streaming']): string => {
    if (c.token !== undefined) return c.token;
    if (generated === undefined) {
      generated = randomBytes(12).toString('base64url');
      log.warn({ token: generated }, 'streaming.token is not configured: viewers must present this token (set streaming.token in the configuration to choose one)');
    }
    return generated;
  };
  let token = tokenOf(o.config);
  const live = new LiveFeed(o.config.live_fps);
  const manager = new SessionManager(sessionSettings(o.config, token, profileMax), { clipsDir: o.clipsDir, live });
  const signalling: Signalling = await startSignalling({ client: o.client, device: o.device, manager });
  const catalog = startCatalog({ client: o.client, device: o.device, clipsDir: o.clipsDir });
  log.info({ max_sessions: manager.current.maxSessions, topic: `sfn/${o.device}/webrtc/+/offer` }, 'webrtc streaming ready');
  return {
    manager, live, catalog,
    get token() {
      return token;
    },
    configure: (c) => {
      token = tokenOf(c);
      manager.configure(sessionSettings(c, token, profileMax));
      live.setMaxFps(c.live_fps);
    },
    close: async () => {
      catalog.close();
      await signalling.close();
      manager.closeAll();
    },
  };
}
