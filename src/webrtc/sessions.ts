/**
 * WebRTC sessions of one device, whatever carries the signalling (MQTT in signalling.ts, HTTP in
 * whep.ts). A session streams one thing: a flagged clip (by event id) or the live view (optionally
 * with the anomaly region drawn). The manager checks the token, the session cap and the request,
 * answers the viewer's offer, and ends sessions when the peer disconnects or fails, when asked, or
 * at the session timeout, releasing the player and the peer connection.
 */
import { timingSafeEqual } from 'node:crypto';

import { log } from '../util/log.js';
import { ClipPlayer, findClip, UnknownEventError } from './clip-source.js';
import { LivePlayer, type LiveFeed } from './live.js';
import { wrtc, type IceCandidateInit, type IceServer, type MediaTrack, type PeerConnection } from './wrtc.js';

/** How long a session stays open after its clip has played to its end (ms), before it is ended with `clip ended`. */
export const CLIP_END_LINGER_MS = 1500;

/** What a session plays. */
export type StreamRequest = { kind: 'clip'; eventId: string } | { kind: 'live'; overlay: boolean };

/** Settings that may change at run time (configuration pushed over MQTT). */
export interface SessionSettings {
  /** secret the viewer must present */
  token: string;
  /** STUN/TURN servers */
  iceServers: IceServer[];
  /** concurrent sessions allowed (0 = streaming off) */
  maxSessions: number;
  /** a session is closed this long after its offer */
  sessionTimeoutMs: number;
  /** replay a clip until the session ends */
  loop: boolean;
}

/** Where sessions get their pictures. */
export interface SessionSources {
  /** folder of the runtime's clips */
  clipsDir: string;
  /** the run loop's frames; absent = no live view */
  live?: LiveFeed;
}

/** A refused offer; `message` is the reason sent back to the viewer. */
export class SessionRefused extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
    this.name = 'SessionRefused';
  }
}

interface Player {
  readonly track: MediaTrack;
  start(): void;
  stop(): void;
}

interface Session {
  id: string;
  pc: PeerConnection;
  player?: Player;
  /** remote candidates that came before the remote description was set */
  early: IceCandidateInit[] | undefined;
  timer: NodeJS.Timeout;
  onEnd?: (why: string) => void;
}

/** Parsed offer. */
export interface OfferInput {
  token: unknown;
  request: StreamRequest;
  sdp: unknown;
}

/** Options of {@link SessionManager.offer}. */
export interface OfferOptions {
  /** receives the device's ICE candidates (trickle); absent = wait for gathering to finish and put them in the answer */
  onCandidate?: (c: IceCandidateInit) => void;
  /** called once when the session ends, with the reason */
  onEnd?: (why: string) => void;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Parses the "what to play" part of an offer: `{event_id: "<id>"}` for a clip, `{live: true,
 * overlay?: boolean}` for the live view.
 * @throws SessionRefused naming the wrong field.
 */
export function parseRequest(msg: Record<string, unknown>): StreamRequest {
  if (msg.live === true) {
    if (msg.overlay !== undefined && typeof msg.overlay !== 'boolean') throw new SessionRefused('malformed offer: overlay must be true or false');
    return { kind: 'live', overlay: msg.overlay === true };
  }
  if (typeof msg.event_id !== 'string') throw new SessionRefused('malformed offer: event_id must be a string (or live: true for the live view)');
  return { kind: 'clip', eventId: msg.event_id };
}

/** The sessions of one device. */
export class SessionManager {
  private readonly map = new Map<string, Session>();

  constructor(private settings: SessionSettings, private readonly sources: SessionSources) {}

  /** Replaces some settings; open sessions keep their peer connections (a lower cap refuses only new ones). */
  configure(s: Partial<SessionSettings>): void {
    this.settings = { ...this.settings, ...s };
  }

  /** The settings in force. */
  get current(): Readonly<SessionSettings> {
    return this.settings;
  }

  /** Whether `token` is the configured secret (constant-time comparison). */
  tokenOk(token: unknown): boolean {
    return typeof token === 'string' && sameSecret(token, this.settings.token);
  }

  /** Ids of the open sessions. */
  ids(): string[] {
    return [...this.map.keys()];
  }

  /**
   * Answers a viewer's offer for session `id`.
   * @returns the answer SDP (with the device's candidates when `opts.onCandidate` is absent).
   * @throws SessionRefused with the reason: wrong token (401), session id in use (409), too many
   *   sessions (503), malformed request or SDP (400), unknown event id (404), clip or live view
   *   unavailable.
   */
  async offer(id: string, input: OfferInput, opts: OfferOptions = {}): Promise<string> {
    const st = this.settings;
    if (input.token === undefined || input.token === null || input.token === '') throw new SessionRefused('missing token: the offer must carry the device\'s streaming token', 401);
    if (!this.tokenOk(input.token)) throw new SessionRefused('wrong token', 401);
    if (this.map.has(id)) throw new SessionRefused(`session ${id} already exists`, 409);
    if (st.maxSessions <= 0) throw new SessionRefused('streaming is off on this device (max sessions 0)', 503);
    if (this.map.size >= st.maxSessions) throw new SessionRefused(`too many sessions (at most ${st.maxSessions})`, 503);
    if (typeof input.sdp !== 'string' || !input.sdp.startsWith('v=0')) throw new SessionRefused('malformed SDP: not a session description (must start with v=0)');
    const req = input.request;
    if (req.kind === 'live' && !this.sources.live) throw new SessionRefused('no live view on this device (not running a source)', 404);
    const pc = new (wrtc().RTCPeerConnection)({ iceServers: st.iceServers });
    const s: Session = { id, pc, early: [], timer: setTimeout(() => this.end(id, 'timeout'), st.sessionTimeoutMs), ...(opts.onEnd ? { onEnd: opts.onEnd } : {}) };
    this.map.set(id, s); // counts against the cap from here on
    const fail = (err: SessionRefused): never => {
      this.end(id, 'refused');
      throw err;
    };
    try {
      let player: Player;
      if (req.kind === 'live') player = new LivePlayer(this.sources.live as LiveFeed, req.overlay);
      else {
        const path = await findClip(this.sources.clipsDir, req.eventId);
        // a clip that has played to its end frees its slot (after a moment, so its last frame shows)
        player = await ClipPlayer.open(path, {
          loop: st.loop, onError: (e) => log.warn({ session: id, err: e.message }, 'clip playback failed'),
          onEnd: () => {
            clearTimeout(s.timer);
            s.timer = setTimeout(() => this.end(id, 'clip ended'), CLIP_END_LINGER_MS);
          },
        });
      }
      if (this.map.get(id) !== s) {
        player.stop();
        throw new SessionRefused('session closed while it was being set up');
      }
      s.player = player;
      pc.addTrack(player.track);
    } catch (err) {
      if (err instanceof SessionRefused) fail(err);
      fail(err instanceof UnknownEventError ? new SessionRefused(err.message, 404) : new SessionRefused(`cannot open the clip: ${(err as Error).message}`, 500));
    }
    const gathered = new Promise<void>((resolve) => {
      pc.onicecandidate = (ev) => {
        if (!ev.candidate) return resolve();
        opts.onCandidate?.({ candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid ?? null, sdpMLineIndex: ev.candidate.sdpMLineIndex ?? null });
      };
    });
    pc.onconnectionstatechange = () => {
      const c = pc.connectionState;
      if (c === 'connected') s.player?.start();
      else if (c === 'failed' || c === 'disconnected' || c === 'closed') this.end(id, `peer ${c}`);
    };
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: input.sdp });
    } catch (err) {
      fail(new SessionRefused(`malformed SDP: ${(err as Error).message}`));
    }
    try {
      for (const c of s.early ?? []) await pc.addIceCandidate(c);
      s.early = undefined;
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      if (!opts.onCandidate) await Promise.race([gathered, new Promise((r) => setTimeout(r, 5000))]);
      if (this.map.get(id) !== s) throw new SessionRefused('session closed while it was being set up');
      log.info({ session: id, ...(req.kind === 'clip' ? { event: req.eventId } : { live: true, overlay: req.overlay }) }, 'webrtc session answered');
      return opts.onCandidate ? answer.sdp : (pc.localDescription?.sdp ?? answer.sdp);
    } catch (err) {
      return fail(err instanceof SessionRefused ? err : new SessionRefused(`cannot answer the offer: ${(err as Error).message}`, 500));
    }
  }

  /** Adds a remote ICE candidate to session `id` (ignored for unknown sessions or bad candidates). */
  async candidate(id: string, c: IceCandidateInit): Promise<void> {
    const s = this.map.get(id);
    if (!s) return;
    if (s.early) s.early.push(c);
    else await s.pc.addIceCandidate(c).catch((e: Error) => log.debug({ session: id, err: e.message }, 'bad remote candidate'));
  }

  /** Ends session `id` (no-op when unknown) and releases its player and peer connection. */
  end(id: string, why: string): void {
    const s = this.map.get(id);
    if (!s) return;
    this.map.delete(id);
    clearTimeout(s.timer);
    s.player?.stop();
    s.pc.onicecandidate = null;
    s.pc.onconnectionstatechange = null;
    s.pc.close();
    log.info({ session: id, why }, 'webrtc session closed');
    s.onEnd?.(why);
  }

  /** Ends every session. */
  closeAll(why = 'shutdown'): void {
    for (const id of this.ids()) this.end(id, why);
  }
}
