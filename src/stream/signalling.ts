/**
 * WebRTC signalling over MQTT for one device. A viewer publishes an offer on
 * `sfn/<device>/webrtc/<session>/offer` (`{token, event_id, sdp}`) and its ICE candidates on
 * `.../candidate` (`{candidate, sdpMid, sdpMLineIndex}`), and may end the session on `.../close`.
 * The device answers on `.../answer` with `{sdp}` or `{error}`, and trickles its own candidates on
 * `.../candidate/device`. The device only makes outbound connections (to the broker).
 *
 * Refusals (`{error}`): wrong token, too many sessions, unknown event id, malformed SDP, a session
 * id already in use. A session ends when the peer disconnects or fails, on `.../close`, or after
 * `sessionTimeoutMs`; its clip player and peer connection are released.
 */
import type { MqttClient } from 'mqtt';

import { log } from '../util/log.js';
import { ClipPlayer, findClip, UnknownEventError } from './clip-source.js';
import { wrtc, type IceCandidateInit, type IceServer, type PeerConnection } from './wrtc.js';

/** Options of `startSignalling`. */
export interface SignallingOptions {
  /** Connected MQTT client. */
  client: MqttClient;
  device: string;
  /** Secret the viewer must present as `token`. */
  token: string;
  /** Folder of the runtime's clips. */
  clipsDir: string;
  /** STUN/TURN servers (from the configuration). */
  iceServers: IceServer[];
  /** Concurrent sessions allowed (the profile's cap). */
  maxSessions: number;
  /** A session is closed this long after the offer (default 10 min). */
  sessionTimeoutMs?: number;
  /** Replay the clip until the session ends (default false). */
  loop?: boolean;
}

/** One streaming session. */
interface Session {
  id: string;
  pc: PeerConnection;
  player?: ClipPlayer;
  /** Remote candidates that came before the remote description was set. */
  early: IceCandidateInit[] | undefined;
  timer: NodeJS.Timeout;
}

/** A running signalling endpoint. */
export interface Signalling {
  /** Ids of the open sessions. */
  sessions(): string[];
  /** Unsubscribes and closes every session. */
  close(): Promise<void>;
}

const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

function parseJson(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

type Handler = (session: string, payload: Buffer) => void | Promise<void>;

/**
 * Subscribes to the device's WebRTC topics and serves sessions until `close()`.
 * @throws Error when the subscription fails.
 */
export async function startSignalling(opts: SignallingOptions): Promise<Signalling> {
  const { client, device } = opts;
  const base = `sfn/${device}/webrtc`;
  const sessions = new Map<string, Session>();
  const timeoutMs = opts.sessionTimeoutMs ?? 10 * 60_000;

  const publish = (session: string, leaf: string, body: unknown): void => {
    client.publish(`${base}/${session}/${leaf}`, JSON.stringify(body), { qos: 1 });
  };
  const refuse = (session: string, error: string): void => {
    log.warn({ session, error }, 'webrtc session refused');
    publish(session, 'answer', { error });
  };
  const end = (id: string, why: string): void => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    clearTimeout(s.timer);
    s.player?.stop();
    s.pc.onicecandidate = null;
    s.pc.onconnectionstatechange = null;
    s.pc.close();
    log.info({ session: id, why }, 'webrtc session closed');
  };

  const onOffer: Handler = async (id, payload) => {
    const msg = parseJson(payload);
    if (!msg) return refuse(id, 'malformed offer: payload is not a JSON object');
    if (msg.token !== opts.token) return refuse(id, 'wrong token');
    if (sessions.has(id)) return refuse(id, `session ${id} already exists`);
    if (sessions.size >= opts.maxSessions) return refuse(id, `too many sessions (at most ${opts.maxSessions})`);
    if (typeof msg.event_id !== 'string') return refuse(id, 'malformed offer: event_id must be a string');
    if (typeof msg.sdp !== 'string' || !msg.sdp.startsWith('v=0')) return refuse(id, 'malformed SDP: not a session description (must start with v=0)');
    const pc = new (wrtc().RTCPeerConnection)({ iceServers: opts.iceServers });
    const s: Session = { id, pc, early: [], timer: setTimeout(() => end(id, 'timeout'), timeoutMs) };
    sessions.set(id, s); // counts against the cap from here on
    try {
      const path = await findClip(opts.clipsDir, msg.event_id);
      const player = await ClipPlayer.open(path, { loop: opts.loop, onError: (e) => log.warn({ session: id, err: e.message }, 'clip playback failed') });
      if (sessions.get(id) !== s) return player.stop();
      s.player = player;
      pc.addTrack(player.track);
    } catch (err) {
      end(id, 'refused');
      return refuse(id, err instanceof UnknownEventError ? err.message : `cannot open the clip: ${(err as Error).message}`);
    }
    pc.onicecandidate = (ev) => {
      if (ev.candidate) publish(id, 'candidate/device', { candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid ?? null, sdpMLineIndex: ev.candidate.sdpMLineIndex ?? null });
    };
    pc.onconnectionstatechange = () => {
      const st = pc.connectionState;
      if (st === 'connected') s.player?.start();
      else if (st === 'failed' || st === 'disconnected' || st === 'closed') end(id, `peer ${st}`);
    };
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
    } catch (err) {
      end(id, 'refused');
      return refuse(id, `malformed SDP: ${(err as Error).message}`);
    }
    try {
      for (const c of s.early ?? []) await pc.addIceCandidate(c);
      s.early = undefined;
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      if (sessions.get(id) !== s) return;
      publish(id, 'answer', { sdp: answer.sdp });
      log.info({ session: id, event: msg.event_id }, 'webrtc session answered');
    } catch (err) {
      end(id, 'refused');
      refuse(id, `cannot answer the offer: ${(err as Error).message}`);
    }
  };

  const onCandidate: Handler = async (id, payload) => {
    const s = sessions.get(id);
    const msg = parseJson(payload);
    if (!s || !msg || typeof msg.candidate !== 'string') return;
    const c: IceCandidateInit = {
      candidate: msg.candidate,
      sdpMid: typeof msg.sdpMid === 'string' ? msg.sdpMid : null,
      sdpMLineIndex: typeof msg.sdpMLineIndex === 'number' ? msg.sdpMLineIndex : null,
    };
    if (s.early) s.early.push(c);
    else await s.pc.addIceCandidate(c).catch((e: Error) => log.debug({ session: id, err: e.message }, 'bad remote candidate'));
  };

  const onClose: Handler = (id) => end(id, 'closed by viewer');

  /** Topic leaf -> handler; the subscriptions are built from it. */
  const handlers: Record<string, Handler> = { offer: onOffer, candidate: onCandidate, close: onClose };
  const topics = Object.keys(handlers).map((leaf) => `${base}/+/${leaf}`);

  const onMessage = (topic: string, payload: Buffer): void => {
    if (!topic.startsWith(`${base}/`)) return;
    const [id, leaf, ...rest] = topic.slice(base.length + 1).split('/');
    const h = leaf === undefined || rest.length ? undefined : handlers[leaf];
    if (!h || id === undefined) return;
    if (!SESSION_ID.test(id)) return;
    Promise.resolve(h(id, payload)).catch((e: Error) => log.warn({ session: id, err: e.message }, 'webrtc signalling failed'));
  };
  client.on('message', onMessage);
  await client.subscribeAsync(topics, { qos: 1 });

  return {
    sessions: () => [...sessions.keys()],
    close: async () => {
      client.off('message', onMessage);
      for (const id of [...sessions.keys()]) end(id, 'shutdown');
      if (client.connected) await client.unsubscribeAsync(topics).catch(() => undefined);
    },
  };
}
