/**
 * The clip catalog: a retained `sfn/<device>/clips` message listing the newest flagged clips in the
 * clips folder, so that a viewer opened later still finds them (event messages are not retained):
 *
 * `{"updated": "<ISO time>", "clips": [{"event_id", "time", "video", "bytes", "snapshot", "caption"?}]}`
 *
 * newest first; `video` is the file name, `snapshot` the peak-frame JPEG as a `data:` URI, shrunk to
 * {@link THUMB_WIDTH} px wide when the snapshot is wider (snapshots are at the source's size; the
 * retained message stays at a few KB per clip), `caption` the text of the caption stored beside the clip
 * (`<stem>.caption.json`, written by the captioner) when there is one. A clip is listed once both its MP4 and its JPEG exist (the recorder writes the
 * JPEG after the MP4 is complete). The folder is rescanned every `intervalMs` and the message is
 * republished only when the listing changed.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import sharp from 'sharp';

import { deviceTopic, TOPICS } from '../mqtt/topics.js';
import { log } from '../util/log.js';

/** One catalog entry. */
export interface ClipEntry {
  event_id: string;
  /** start of the recording (ISO 8601) */
  time: string;
  /** MP4 file name in the clips folder */
  video: string;
  bytes: number;
  /** `data:image/jpeg;base64,...` */
  snapshot: string;
  /** the event's caption, when the captioner stored one beside the clip */
  caption?: string;
}

/** The caption text of a `<stem>.caption.json` file (the `caption` field), or undefined. */
async function readCaption(file: string): Promise<string | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as { caption?: unknown };
    return typeof v.caption === 'string' ? v.caption : undefined;
  } catch {
    return undefined;
  }
}

/** `2026-01-01T00-00-00-000Z_<id>` -> time and id, or null for other names. */
export function parseClipStem(stem: string): { time: string; eventId: string } | null {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)-(\d{3})Z_([A-Za-z0-9._-]+)$/.exec(stem);
  if (!m) return null;
  return { time: `${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`, eventId: m[6] as string };
}

/**
 * The newest `max` complete clips in `dir` (none when the folder does not exist).
 * @throws Error for read errors other than a missing folder.
 */
/** Width of the catalog's thumbnails, px (narrower snapshots go as they are). */
export const THUMB_WIDTH = 320;

/** Thumbnails made so far, by file and size (the folder is rescanned every few seconds). */
const thumbs = new Map<string, Buffer>();

/** `jpg` as a JPEG at most {@link THUMB_WIDTH} px wide (quality 75), or as it is when sharp cannot read it; cached by `key`. */
export async function thumbnail(jpg: Buffer, key: string): Promise<Buffer> {
  const hit = thumbs.get(key);
  if (hit) return hit;
  const width = await sharp(jpg).metadata().then((m) => m.width ?? 0, () => 0);
  const out = width > THUMB_WIDTH ? await sharp(jpg).resize({ width: THUMB_WIDTH }).jpeg({ quality: 75 }).toBuffer() : jpg;
  thumbs.set(key, out);
  if (thumbs.size > 256) thumbs.delete(thumbs.keys().next().value as string);
  return out;
}

export async function listClips(dir: string, max = 12): Promise<ClipEntry[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const have = new Set(names);
  const stems = names.filter((n) => n.endsWith('.mp4')).map((n) => n.slice(0, -4)).filter((s) => have.has(`${s}.jpg`) && parseClipStem(s)).sort().reverse().slice(0, max);
  const out: ClipEntry[] = [];
  for (const stem of stems) {
    const p = parseClipStem(stem) as { time: string; eventId: string };
    try {
      const [st, jpg] = await Promise.all([stat(join(dir, `${stem}.mp4`)), readFile(join(dir, `${stem}.jpg`))]);
      const caption = have.has(`${stem}.caption.json`) ? await readCaption(join(dir, `${stem}.caption.json`)) : undefined;
      const thumb = await thumbnail(jpg, `${join(dir, stem)}:${jpg.length}`);
      out.push({ event_id: p.eventId, time: p.time, video: `${stem}.mp4`, bytes: st.size, snapshot: `data:image/jpeg;base64,${thumb.toString('base64')}`, ...(caption !== undefined ? { caption } : {}) });
    } catch {
      // deleted by the disk budget in between: skip it
    }
  }
  return out;
}

/** A running catalog publisher. */
export interface Catalog {
  /** Rescans now and republishes when the listing changed. */
  refresh(): Promise<void>;
  /** Stops rescanning (the retained message stays). */
  close(): void;
}

/** Options of {@link startCatalog}. */
export interface CatalogOptions {
  client: MqttClient;
  device: string;
  clipsDir: string;
  /** rescan period, ms (default 2000) */
  intervalMs?: number;
  /** clips listed at most (default 12) */
  max?: number;
}

/** Publishes the retained catalog now and whenever the clips folder changes. */
export function startCatalog(o: CatalogOptions): Catalog {
  const topic = deviceTopic(o.device, TOPICS.clips);
  let last = '';
  let running: Promise<void> | null = null;
  const scan = async (): Promise<void> => {
    const clips = await listClips(o.clipsDir, o.max ?? 12);
    const key = clips.map((c) => `${c.video}:${c.bytes}:${c.caption ?? ''}`).join('|');
    if (key === last) return;
    last = key;
    await o.client.publishAsync(topic, JSON.stringify({ updated: new Date().toISOString(), clips }), { qos: 1, retain: true });
  };
  const refresh = (): Promise<void> => {
    running ??= scan().catch((err: unknown) => {
      last = '';
      log.warn({ err: (err as Error).message, dir: o.clipsDir }, 'clip catalog: cannot publish');
    }).finally(() => {
      running = null;
    });
    return running;
  };
  void refresh();
  const timer = setInterval(() => void refresh(), o.intervalMs ?? 2000);
  timer.unref();
  return { refresh, close: () => clearInterval(timer) };
}
