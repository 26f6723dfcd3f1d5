/**
 * WebRTC streaming of flagged clips and the live view (src/webrtc), signalled over the reporter's
 * MQTT connection, with the WHEP endpoint (plain HTTP, for the local network) when a port is given.
 * `streaming` changes from `config/set` apply to new sessions at once.
 */
import { join } from 'node:path';
import type { RuntimeConfig } from '../core/runtime-config.js';
import type { MqttClient } from 'mqtt';
import { startStreaming, type Streaming } from '../webrtc/service.js';
import { startWhep } from '../webrtc/whep.js';
import type { Service } from './services.js';

/** What the streaming service needs. */
export interface StreamingServiceOptions {
  /** for logs (default `streaming`) */
  name?: string;
  /** the connected client (read at start, after the reporter started) */
  client: () => MqttClient;
  deviceId: string;
  clipsDir: string;
  stateDir: string;
  config: () => RuntimeConfig['streaming'];
  /** the device profile's `streaming.maxSessions` */
  profileMaxSessions?: number;
  /** the device profile's `streaming.liveMaxHeight` (rows) */
  profileLiveMaxHeight?: number;
  whepPort?: number;
  /** default 127.0.0.1 */
  whepHost?: string;
}

/** Streaming as a service (see the file comment). */
export class StreamingService implements Service {
  readonly name: string;
  private s: Streaming | null = null;
  private whep: { close(): Promise<void> | void } | null = null;

  constructor(private readonly o: StreamingServiceOptions) {
    this.name = o.name ?? 'streaming';
  }

  /** The running streaming side. @throws Error before `start()`. */
  get streaming(): Streaming {
    if (!this.s) throw new Error('streaming has not started');
    return this.s;
  }

  /** @throws Error when the signalling subscription fails or the WHEP port cannot be bound. */
  async start(): Promise<void> {
    const o = this.o;
    this.s = await startStreaming({
      client: o.client(), device: o.deviceId, clipsDir: o.clipsDir, config: o.config(), tokenFile: join(o.stateDir, 'streaming-token'),
      ...(o.profileMaxSessions !== undefined ? { profileMaxSessions: o.profileMaxSessions } : {}),
      ...(o.profileLiveMaxHeight !== undefined ? { profileLiveMaxHeight: o.profileLiveMaxHeight } : {}),
    });
    if (o.whepPort !== undefined) this.whep = await startWhep(this.s.manager, o.whepPort, o.whepHost ?? '127.0.0.1');
  }

  /** Applies a new `streaming` configuration to new sessions. */
  configure(c: RuntimeConfig['streaming']): void {
    this.s?.configure(c);
  }

  /** Tells viewers their sessions closed (`closed` {reason: shutdown}) and ends them; idempotent. */
  async closeSessions(): Promise<void> {
    await this.s?.close();
  }

  async stop(): Promise<void> {
    await this.whep?.close();
    this.whep = null;
    await this.s?.close();
  }
}
