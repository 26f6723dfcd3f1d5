/**
 * The source's state as the broker sees it: retained `sfn/<device>/source/state` with
 * `{state, since, reason, source}`, where `state` is `up` (frames flow), `down` (the source failed
 * or ended; `reason` says why) or `reconnecting` (a live source is being reopened). Published on
 * every change, so a dashboard or Home Assistant (discovery.ts) sees a dead camera at once, while
 * `availability` only says whether the device process is connected.
 */

/** One source state message. */
export interface SourceStateMessage {
  state: 'up' | 'down' | 'reconnecting';
  /** ISO time of the change */
  since: string;
  /** why the source is down (the source's error, or "ended"); null when up */
  reason: string | null;
  source: string;
}

/** Tracks the state and publishes each change (publishing failures are the publisher's concern). */
export class SourceState {
  private current: SourceStateMessage | null = null;

  constructor(private readonly publish: (m: SourceStateMessage) => Promise<void>) {}

  /** The last state set (null before the first). */
  get now(): SourceStateMessage | null {
    return this.current;
  }

  /** Sets the state; publishes only when the state, the reason or the source changed. */
  set(state: SourceStateMessage['state'], source: string, reason: string | null = null): void {
    const c = this.current;
    if (c && c.state === state && c.source === source && c.reason === reason) return;
    this.current = { state, since: new Date().toISOString(), reason, source };
    void this.publish(this.current).catch(() => undefined);
  }
}
