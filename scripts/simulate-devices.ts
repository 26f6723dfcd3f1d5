/**
 * Device simulator (issue 16, item 3): publishes the MQTT traffic of N devices under `sfn/<id>/`,
 * with the message shapes of src/ (typed against `AnomalyEvent`, `EventDescription`,
 * `SourceStateMessage`), so the central side can be loaded without N real devices:
 *
 * - `availability`: retained `online` on connect, last will `offline` (retained);
 * - `source/state`: retained `up`;
 * - `events`: an event every `--event-every` s per device on average: `new` (seq 0), `update`s
 *   every `--tick-ms` (default 1000, as `run` does; lower it to load a collector harder), then
 *   `end`, QoS 1; each message carries `device_id`, `source` and `sent_at`
 *   (publish time, ISO 8601) so a consumer can measure publish -> row latency;
 * - `events/<id>/description`: a caption after `new` and after `end`, QoS 1;
 * - `stats`: every `--stats-s` s, QoS 0.
 *
 * `node --import tsx scripts/simulate-devices.ts --broker mqtt://127.0.0.1:1883 --devices 20 --seconds 30`
 * Prints `{published: {events, descriptions, stats}, failed, ...}` as JSON at the end: the messages the
 * broker acknowledged (QoS 1) or that were sent (QoS 0), and the publishes that failed.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';

import type { AnomalyEvent, EventType } from '../src/events/detector.js';
import type { EventDescription } from '../src/runtime/describe.js';
import type { SourceStateMessage } from '../src/runtime/source-state.js';

const { values: a } = parseArgs({
  options: {
    broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    devices: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '30' },
    'event-every': { type: 'string', default: '5' },
    'stats-s': { type: 'string', default: '10' },
    'tick-ms': { type: 'string', default: '1000' },
    prefix: { type: 'string', default: 'sim' },
  },
});
const devices = Number(a.devices);
const seconds = Number(a.seconds);
const eventEvery = Number(a['event-every']);
const statsS = Number(a['stats-s']);
const tickMs = Number(a['tick-ms']);
for (const [name, v, min] of [['devices', devices, 1], ['seconds', seconds, 1], ['event-every', eventEvery, 0.001], ['stats-s', statsS, 1], ['tick-ms', tickMs, 10]] as const) {
  if (!Number.isFinite(v) || v < min) throw new Error(`--${name} must be a number >= ${min}, got ${String(v)}`);
}
/** publishes the broker acknowledged (QoS 1) or that were written (QoS 0), by kind; `failed`: publish errors */
const published = { events: 0, descriptions: 0, stats: 0 };
let failed = 0;
/** set when the run is over: no tick publishes after it (a publish on a closing client fails) */
let stopping = false;

interface Open { id: string; seq: number; start: number; frames: number; peak: number }

function eventMessage(device: string, e: Open, type: EventType, now: number): AnomalyEvent & { device_id: string; source: string; sent_at: string } {
  const t = (ms: number) => new Date(ms).toISOString();
  const frame = Math.round((now - e.start) / 40);
  return {
    type, id: e.id, seq: e.seq,
    start: { frame: 0, time: t(e.start) }, last: { frame, time: t(now) }, end: type === 'end' ? { frame, time: t(now) } : null,
    peak: { score: e.peak, frame, time: t(now) }, mean: e.peak * 0.7, frames: e.frames,
    threshold: { on: 3, off: 2, min_frames: 5 }, model_sha256: '0'.repeat(64), trace: [[frame, e.peak]],
    ...(type === 'end' ? { reason: 'below-threshold' as const } : {}),
    device_id: device, source: `rtsp://${device}/cam0`, sent_at: t(Date.now()),
  };
}

function description(e: Open, stage: 'start' | 'peak'): EventDescription {
  return { event_id: e.id, stage, frame: e.frames, time: new Date().toISOString(), caption: 'a person runs across the frame', structured: {} as EventDescription['structured'], captioner: 'simulated', ms: 120 };
}

async function device(i: number): Promise<MqttClient> {
  const id = `${a.prefix}-${String(i).padStart(4, '0')}`;
  const base = `sfn/${id}`;
  const c = await mqtt.connectAsync(a.broker as string, { clientId: `sim-${id}`, protocolVersion: 5, clean: true, will: { topic: `${base}/availability`, payload: Buffer.from('offline'), qos: 1, retain: true } });
  await c.publishAsync(`${base}/availability`, 'online', { qos: 1, retain: true });
  const src: SourceStateMessage = { state: 'up', since: new Date().toISOString(), reason: null, source: `rtsp://${id}/cam0` };
  await c.publishAsync(`${base}/source/state`, JSON.stringify(src), { qos: 1, retain: true });
  let open: Open | null = null;
  const pub = (topic: string, body: unknown, kind: keyof typeof published) => {
    if (stopping) return;
    c.publish(`${base}/${topic}`, JSON.stringify(body), { qos: kind === 'stats' ? 0 : 1 }, (err) => {
      if (err) failed++;
      else published[kind]++;
    });
  };
  const tick = setInterval(() => {
    const now = Date.now();
    if (!open && Math.random() < tickMs / 1000 / eventEvery) {
      open = { id: randomUUID(), seq: 0, start: now, frames: 5, peak: 3 + Math.random() * 5 };
      pub('events', eventMessage(id, open, 'new', now), 'events');
      pub(`events/${open.id}/description`, description(open, 'start'), 'descriptions');
    } else if (open) {
      open.seq++;
      open.frames += 25;
      const end = Math.random() < 0.25;
      pub('events', eventMessage(id, open, end ? 'end' : 'update', now), 'events');
      if (end) {
        pub(`events/${open.id}/description`, description(open, 'peak'), 'descriptions');
        open = null;
      }
    }
  }, tickMs);
  const stats = setInterval(() => pub('stats', { fps: 25, input_fps: 25, skipped_fps: 0, inference_ms: 8.1, provider: 'cpu', model: 'sim', score: Math.random() }, 'stats'), statsS * 1000);
  c.once('end', () => {
    clearInterval(tick);
    clearInterval(stats);
  });
  return c;
}

const clients = await Promise.all(Array.from({ length: devices }, (_, i) => device(i)));
await new Promise((r) => setTimeout(r, seconds * 1000));
stopping = true;
// a clean disconnect sends no last will: say `offline` as a device's close() does
await Promise.all(clients.map((c, i) => c.publishAsync(`sfn/${a.prefix}-${String(i).padStart(4, '0')}/availability`, 'offline', { qos: 1, retain: true })));
for (const c of clients) await c.endAsync();
process.stdout.write(`${JSON.stringify({ devices, seconds, tick_ms: tickMs, published, failed })}\n`);
