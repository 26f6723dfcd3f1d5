/**
 * WebRTC signalling over MQTT for one device. A viewer publishes an offer on
 * `sfn/<device>/webrtc/<session>/offer` (`{token, event_id, sdp}` for a flagged clip, or
 * `{token, live: true, overlay?: true, sdp}` for the live view) and its ICE candidates on
 * `.../candidate` (`{candidate, sdpMid, sdpMLineIndex}`), and may end the session on `.../close`.
 * The device answers on `.../answer` with `{sdp}` or `{error}`, trickles its own candidates on
 * `.../candidate/device`, and publishes `{reason}` on `.../closed` when a session ends. The device
 * only makes outbound connections (to the broker).
 *
 * Refusals (`{error}`): wrong token, too many sessions, unknown event id, malformed offer or SDP, a
 * session id already in use. Sessions themselves are managed by sessions.ts.
 */
import type { MqttClient } from 'mqtt';

import { parseWebrtcTopic, webrtcFilter, webrtcTopic, WEBRTC_LEAVES, type WebrtcLeaf } from '../mqtt/topics.js';
import { log } from '../util/log.js';
import { parseRequest, SessionManager, SessionRefused } from './sessions.js';
import type { IceCandidateInit, IceServer } from './wrtc.js';

/** Options of `startSignalling`: either a `manager`, or the settings to build one from. */
export interface SignallingOptions {
  /** Connected MQTT client. */
  client: MqttClient;
  device: string;
  /** Sessions shared with other signalling paths (WHEP); when given, the fields below are ignored. */
  manager?: SessionManager;
  /** Secret the viewer must present as `token`. */
  token?: string;
  /** Folder of the runtime's clips. */
  clipsDir?: string;
  /** STUN/TURN servers (from the configuration). */
  iceServers?: IceServer[];
  /** Concurrent sessions allowed (the profile's cap). */
  maxSessions?: number;
  /** A session is closed this long after the offer (default 10 min). */
  sessionTimeoutMs?: number;
  /** Replay the clip until the session ends (default false). */
  loop?: boolean;
}

/** A running signalling endpoint. */
export interface Signalling {
  /** Ids of the open sessions. */
  sessions(): string[];
  /** The session manager behind it. */
  readonly manager: SessionManager;
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
 * Works with a client that is not connected yet: it subscribes on connect.
 * @throws Error when neither `manager` nor `token` and `clipsDir` are given.
 */
export async function startSignalling(opts: SignallingOptions): Promise<Signalling> {
  const { client, device } = opts;
  let manager = opts.manager;
  if (!manager) {
    if (opts.token === undefined || opts.clipsDir === undefined) throw new Error('startSignalling needs a session manager, or a token and a clips folder');
    manager = new SessionManager({
      token: opts.token, iceServers: opts.iceServers ?? [], maxSessions: opts.maxSessions ?? 2,
      sessionTimeoutMs: opts.sessionTimeoutMs ?? 10 * 60_000, loop: opts.loop ?? false,
    }, { clipsDir: opts.clipsDir });
  }
  const m = manager;
  /** sessions opened through this endpoint (so `close` ends only those) */
  const mine = new Set<string>();

  const publish = (session: string, leaf: WebrtcLeaf, body: unknown): void => {
    client.publish(webrtcTopic(device, session, leaf), JSON.stringify(body), { qos: 1 });
  };
  const refuse = (session: string, error: string): void => {
    log.warn({ session, error }, 'webrtc session refused');
    publish(session, WEBRTC_LEAVES.answer, { error });
  };

  const onOffer: Handler = async (id, payload) => {
    const msg = parseJson(payload);
    if (!msg) return refuse(id, 'malformed offer: payload is not a JSON object');
    try {
      // the token is checked before anything else is looked at
      if (msg.token === undefined || msg.token === '') throw new SessionRefused('missing token: the offer must carry the device\'s streaming token', 401);
      if (!m.tokenOk(msg.token)) throw new SessionRefused('wrong token', 401);
      const sdp = await m.offer(id, { token: msg.token, request: parseRequest(msg), sdp: msg.sdp }, {
        onCandidate: (c) => publish(id, WEBRTC_LEAVES.deviceCandidate, c),
        onEnd: (why) => {
          mine.delete(id);
          if (why !== 'refused') publish(id, WEBRTC_LEAVES.closed, { reason: why });
        },
      });
      mine.add(id);
      publish(id, WEBRTC_LEAVES.answer, { sdp });
    } catch (err) {
      refuse(id, err instanceof SessionRefused ? err.message : `cannot answer the offer: ${(err as Error).message}`);
    }
  };

  const onCandidate: Handler = async (id, payload) => {
    const msg = parseJson(payload);
    if (!msg || typeof msg.candidate !== 'string') return;
    const c: IceCandidateInit = {
      candidate: msg.candidate,
      sdpMid: typeof msg.sdpMid === 'string' ? msg.sdpMid : null,
      sdpMLineIndex: typeof msg.sdpMLineIndex === 'number' ? msg.sdpMLineIndex : null,
    };
    await m.candidate(id, c);
  };

  const onClose: Handler = (id) => m.end(id, 'closed by viewer');

  /** Topic leaf -> handler; the subscriptions are built from it. */
  const handlers: Record<string, Handler> = { [WEBRTC_LEAVES.offer]: onOffer, [WEBRTC_LEAVES.candidate]: onCandidate, [WEBRTC_LEAVES.close]: onClose };
  const topics = Object.keys(handlers).map((leaf) => webrtcFilter(device, leaf as WebrtcLeaf));

  const onMessage = (topic: string, payload: Buffer): void => {
    const t = parseWebrtcTopic(device, topic);
    const h = t ? handlers[t.leaf] : undefined;
    if (!h || !t) return;
    const id = t.session;
    if (!SESSION_ID.test(id)) return;
    Promise.resolve(h(id, payload)).catch((e: Error) => log.warn({ session: id, err: e.message }, 'webrtc signalling failed'));
  };
  // Subscribed now when connected, and again on every (re)connect (clean sessions forget them). A
  // subscribe sent while the broker is away is rejected with "Connection closed": that is logged,
  // never thrown, so a device whose broker is down at start still starts, scores and queues events.
  const subscribe = (): void => {
    client.subscribeAsync(topics, { qos: 1 }).catch((e: Error) => log.warn({ err: e.message }, 'webrtc signalling: subscribe failed; retried on the next connect'));
  };
  // one `message` and one `connect` listener on the client serve every device (camera) on it
  const leave = routerOf(client).add({ onMessage, onConnect: subscribe });
  if (client.connected) subscribe();

  return {
    sessions: () => m.ids(),
    manager: m,
    close: async () => {
      leave();
      for (const id of [...mine]) m.end(id, 'shutdown');
      if (client.connected) await client.unsubscribeAsync(topics).catch(() => undefined);
    },
  };
}

/** One device's signalling as the client's router calls it. */
interface Route {
  /** every message on the client (the route keeps its own device's) */
  onMessage(topic: string, payload: Buffer): void;
  onConnect(): void;
}

/**
 * The signalling endpoints on one MQTT client: a `run` with N cameras has N of them on the
 * reporter's one client. A listener each would put N `message` and N `connect` listeners on it
 * (MaxListenersExceededWarning from 11 cameras); the router puts one of each, added with the first
 * endpoint and removed with the last, and hands each message and connect to every endpoint.
 */
class SignallingRouter {
  private readonly routes = new Set<Route>();
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    for (const r of this.routes) r.onMessage(topic, payload);
  };
  private readonly onConnect = (): void => {
    for (const r of this.routes) r.onConnect();
  };

  constructor(private readonly client: MqttClient) {}

  /** Adds `r`. @returns the function that removes it (idempotent). */
  add(r: Route): () => void {
    if (this.routes.size === 0) {
      this.client.on('message', this.onMessage);
      this.client.on('connect', this.onConnect);
    }
    this.routes.add(r);
    return () => {
      if (!this.routes.delete(r) || this.routes.size > 0) return;
      this.client.off('message', this.onMessage);
      this.client.off('connect', this.onConnect);
    };
  }
}

const routers = new WeakMap<MqttClient, SignallingRouter>();

/** The signalling router of `client` (made on first use). */
function routerOf(client: MqttClient): SignallingRouter {
  let r = routers.get(client);
  if (!r) {
    r = new SignallingRouter(client);
    routers.set(client, r);
  }
  return r;
}
