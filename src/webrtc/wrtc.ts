/**
 * The part of `@roamhq/wrtc` (node-webrtc) this kit uses, typed here: the package's own types point
 * at the DOM's WebRTC types, which this project does not compile against (`lib: ES2022`).
 * Loaded lazily so that commands that never stream do not load the native addon.
 */
import { createRequire } from 'node:module';

/** An I420 frame: `data` holds Y (w*h), then U and V ((w/2)*(h/2) each). */
export interface I420Frame {
  width: number;
  height: number;
  data: Uint8Array;
}

/** ICE server entry as in `RTCConfiguration.iceServers`. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** Session description (offer/answer). */
export interface SessionDescription {
  type: 'offer' | 'answer' | 'pranswer' | 'rollback';
  sdp: string;
}

/** Trickled ICE candidate as sent over signalling. */
export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

/** Media track (only what we touch). */
export interface MediaTrack {
  readonly kind: string;
  stop(): void;
}

/** Peer connection (only what we touch). */
export interface PeerConnection {
  readonly connectionState: string;
  /** `new` | `gathering` | `complete` */
  readonly iceGatheringState: string;
  readonly localDescription: SessionDescription | null;
  onicecandidate: ((ev: { candidate: { toJSON?(): IceCandidateInit; candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null } | null }) => void) | null;
  onconnectionstatechange: (() => void) | null;
  ontrack: ((ev: { track: MediaTrack }) => void) | null;
  addTrack(track: MediaTrack, ...streams: unknown[]): unknown;
  addTransceiver(kind: 'video' | 'audio', init?: { direction?: string }): unknown;
  createOffer(): Promise<SessionDescription>;
  createAnswer(): Promise<SessionDescription>;
  setLocalDescription(d: SessionDescription): Promise<void>;
  setRemoteDescription(d: SessionDescription): Promise<void>;
  addIceCandidate(c: IceCandidateInit): Promise<void>;
  close(): void;
}

/** Frame source feeding a track (`nonstandard.RTCVideoSource`). */
export interface VideoSource {
  createTrack(): MediaTrack;
  onFrame(frame: I420Frame): void;
}

/** Frame sink reading a track (`nonstandard.RTCVideoSink`). */
export interface VideoSink {
  onframe: ((ev: { frame: I420Frame }) => void) | null;
  stop(): void;
}

/** The module's constructors. */
export interface Wrtc {
  RTCPeerConnection: new (config?: { iceServers?: IceServer[] }) => PeerConnection;
  nonstandard: {
    RTCVideoSource: new (init?: { isScreencast?: boolean }) => VideoSource;
    RTCVideoSink: new (track: MediaTrack) => VideoSink;
  };
}

let cached: Wrtc | undefined;

/**
 * The `@roamhq/wrtc` module (loaded on first call).
 * @throws Error with an install hint when the native addon cannot be loaded.
 */
export function wrtc(): Wrtc {
  if (cached) return cached;
  try {
    cached = createRequire(import.meta.url)('@roamhq/wrtc') as Wrtc;
  } catch (err) {
    throw new Error('cannot load @roamhq/wrtc (WebRTC): install it with `npm install @roamhq/wrtc` (prebuilt for linux-x64/arm64, darwin, win32)', { cause: err });
  }
  return cached;
}

/** Whether the native addon has been loaded in this process. */
export function wrtcLoaded(): boolean {
  return cached !== undefined;
}

/**
 * node-webrtc's `RTCVideoSource` crashes Node's N-API environment cleanup at process exit
 * (SIGSEGV after the work is done; upstream node-webrtc #636). When the addon was loaded, this
 * makes the process leave through `process.exit` once its event loop is empty, before that cleanup,
 * with the exit code it already had. Does nothing when the addon was never loaded.
 */
export function exitBeforeWrtcCleanup(): void {
  if (!wrtcLoaded()) return;
  process.once('beforeExit', () => {
    setImmediate(() => process.exit(process.exitCode ?? 0));
  });
}
