/**
 * Plain-English captions from structured detections: a pure function of the detected objects
 * (class, score, box, motion) and, optionally, the anomaly region from the error map. Example:
 * "a bicycle moving fast to the right through 9 walking people, lower centre".
 */
import type { Box } from './detector.js';
import type { BoxMotion, SpeedState } from './motion.js';

/** A detected object with its motion (when a previous frame was available). */
export interface CaptionObject {
  label: string;
  /** confidence in [0, 1] */
  score: number;
  /** normalised `[x, y, w, h]` */
  box: Box;
  motion?: BoxMotion;
}

/** Objects of one class, summarised. */
export interface ObjectGroup {
  label: string;
  count: number;
  /** the most common speed state in the group ('still' when no motion is known) */
  state: SpeedState;
  /** the most common direction among the group's moving objects ('none' if none moves) */
  direction: string;
}

/** The structured form of a caption (what the text says, as data). */
export interface StructuredCaption {
  objects: CaptionObject[];
  groups: ObjectGroup[];
  /** index into `objects` of the object the caption is about (the anomaly's, when known) */
  subject: number | null;
  /** where the error map says the anomaly is */
  anomaly: { box: Box; region: string } | null;
  text: string;
}

/** Name of the image region a box's centre falls in, on a 3x3 grid: 'upper left' ... 'centre'. */
export function regionName(box: Box): string {
  const cx = box[0] + box[2] / 2;
  const cy = box[1] + box[3] / 2;
  const row = cy < 1 / 3 ? 'upper' : cy < 2 / 3 ? 'middle' : 'lower';
  const col = cx < 1 / 3 ? 'left' : cx < 2 / 3 ? 'centre' : 'right';
  if (row === 'middle' && col === 'centre') return 'centre';
  return row === 'middle' ? `middle ${col}` : `${row} ${col}`;
}

const NUMBER_WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

function plural(label: string, n: number): string {
  if (n === 1) return label;
  if (label === 'person') return 'people';
  if (label === 'bus') return 'buses';
  if (/s$/.test(label)) return label; // skis, scissors
  if (/(x|ch|sh)$/.test(label)) return `${label}es`;
  return `${label}s`;
}

const PAIRS = new Set(['skis', 'scissors']);

function count(label: string, n: number): string {
  if (PAIRS.has(label)) return n === 1 ? `a pair of ${label}` : `${n < NUMBER_WORDS.length ? NUMBER_WORDS[n] : n} pairs of ${label}`;
  const num = n === 1 ? (/^[aeiou]/.test(label) ? 'an' : 'a') : n < NUMBER_WORDS.length ? NUMBER_WORDS[n]! : String(n);
  return `${num} ${plural(label, n)}`;
}

function overlap(a: Box, b: Box): number {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  return w > 0 && h > 0 ? (w * h) / Math.max(1e-9, a[2] * a[3]) : 0;
}

function mostCommon<T>(values: T[], fallback: T): T {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = fallback;
  let n = 0;
  for (const [v, c] of counts) if (c > n) [best, n] = [v, c];
  return best;
}

function summarise(objects: CaptionObject[]): ObjectGroup[] {
  const byLabel = new Map<string, CaptionObject[]>();
  for (const o of objects) byLabel.set(o.label, [...(byLabel.get(o.label) ?? []), o]);
  return [...byLabel].map(([label, os]) => ({
    label,
    count: os.length,
    state: mostCommon(os.map((o) => o.motion?.state ?? 'still'), 'still' as SpeedState),
    direction: mostCommon(os.filter((o) => o.motion && o.motion.direction !== 'none').map((o) => o.motion!.direction), 'none'),
  }));
}

function movingPhrase(o: CaptionObject): string {
  const m = o.motion;
  if (!m) return '';
  const to = m.direction === 'up' ? ' up the frame' : m.direction === 'down' ? ' down the frame' : m.direction === 'none' ? '' : ` to the ${m.direction}`;
  if (o.label === 'person') return m.state === 'still' ? ' standing still' : m.state === 'fast' ? ` running${to}` : ` walking${to}`;
  return m.state === 'still' ? ' not moving' : m.state === 'fast' ? ` moving fast${to}` : ` moving at walking pace${to}`;
}

/** Least detector score for a non-subject object to be named in the caption text. */
export const MENTION_SCORE = 0.3;

const RIDDEN = new Set(['bicycle', 'motorcycle', 'skateboard', 'horse']);

const STATE_ADJECTIVE: Record<SpeedState, string> = { still: 'standing', 'walking pace': 'walking', fast: 'running' };

/**
 * Builds the structured caption and its text.
 * Subject: the object that overlaps the anomaly box most (when `anomalyBox` is given), else the
 * non-person object that moves (then the highest-scored one), else a running person; the others are summarised
 * ("through 9 walking people"). Pure: same input, same output.
 * @param objects detections with motion, any order
 * @param anomalyBox normalised box of the anomaly region from the error map, if known
 */
export function buildCaption(objects: CaptionObject[], anomalyBox?: Box): StructuredCaption {
  const anomaly = anomalyBox ? { box: anomalyBox, region: regionName(anomalyBox) } : null;
  const order = objects.map((_, i) => i);
  let subject: number | null = null;
  if (anomalyBox) {
    const scored = order.map((i) => [i, overlap(objects[i]!.box, anomalyBox)] as const).filter(([, v]) => v > 0.1);
    scored.sort((a, b) => b[1] - a[1] || objects[b[0]]!.score - objects[a[0]]!.score);
    subject = scored[0]?.[0] ?? null;
  }
  if (subject === null) {
    // a moving object is more notable than a still one (lamp posts read as traffic lights)
    const moving = (i: number) => (objects[i]!.motion && objects[i]!.motion!.state !== 'still' ? 1 : 0);
    const others = order.filter((i) => objects[i]!.label !== 'person').sort((a, b) => moving(b) - moving(a) || objects[b]!.score - objects[a]!.score);
    const runners = order.filter((i) => objects[i]!.motion?.state === 'fast').sort((a, b) => objects[b]!.motion!.relSpeed - objects[a]!.motion!.relSpeed);
    subject = others[0] ?? runners[0] ?? null;
  }
  // a person on a bicycle/motorcycle/skateboard is one subject: "a person riding a bicycle"
  let partner: number | null = null;
  if (subject !== null) {
    const s = objects[subject]!;
    const wanted = (o: CaptionObject) => (s.label === 'person' ? RIDDEN.has(o.label) : RIDDEN.has(s.label) && o.label === 'person');
    const near = order.filter((i) => i !== subject && wanted(objects[i]!) && Math.max(overlap(objects[i]!.box, s.box), overlap(s.box, objects[i]!.box)) > 0.3);
    partner = near.sort((a, b) => objects[b]!.score - objects[a]!.score)[0] ?? null;
  }
  const groups = summarise(objects);
  let text: string;
  if (objects.length === 0) {
    text = 'no objects detected';
  } else if (subject === null) {
    text = groups
      .map((g) => {
        const dir = g.direction !== 'none' && g.state !== 'still' ? `, mostly ${g.direction === 'up' || g.direction === 'down' ? `${g.direction} the frame` : `to the ${g.direction}`}` : '';
        return g.label === 'person' ? `${count('person', g.count)} ${STATE_ADJECTIVE[g.state]}${dir}` : count(g.label, g.count);
      })
      .join('; ');
  } else {
    const s = objects[subject]!;
    const rest = summarise(objects.filter((_, i) => i !== subject && i !== partner));
    const people = rest.find((g) => g.label === 'person');
    const moving = s.motion !== undefined && s.motion.state !== 'still';
    let t: string;
    if (partner !== null) {
      const ridden = s.label === 'person' ? objects[partner]!.label : s.label;
      t = `a person riding ${count(ridden, 1)}${movingPhrase({ ...s, label: ridden })}`;
    } else t = `${count(s.label, 1)}${movingPhrase(s)}`;
    if (people) t += ` ${moving ? 'through' : 'among'} ${NUMBER_WORDS[people.count] && people.count < 10 ? NUMBER_WORDS[people.count] : people.count} ${STATE_ADJECTIVE[people.state]} ${plural('person', people.count)}`;
    // other objects are named only when the detector is fairly sure (the text feature keeps them all)
    const extra = summarise(objects.filter((o, i) => i !== subject && i !== partner && o.label !== 'person' && o.score >= MENTION_SCORE));
    if (extra.length > 0) t += `, with ${extra.map((g) => count(g.label, g.count)).join(' and ')}`;
    text = `${t}, ${anomaly ? anomaly.region : regionName(s.box)}`;
  }
  if (anomaly && subject === null && objects.length > 0) text += `; anomaly ${anomaly.region}`;
  if (anomaly && objects.length === 0) text += `; anomaly ${anomaly.region}`;
  return { objects, groups, subject, anomaly, text };
}
