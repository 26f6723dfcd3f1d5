/**
 * Zod schemas of the messages the collector accepts, checked against the shared types in src/
 * (`AnomalyEvent`, `EventDescription`, `SourceStateMessage`). A payload that fails is dropped.
 */
import { z } from 'zod';
import type { AnomalyEvent } from '../events/detector.js';
import type { EventDescription } from '../runtime/describe.js';

const stamp = z.object({ frame: z.number().int(), time: z.string().max(64) });

/** `sfn/<device>/events` */
export const eventSchema = z.object({
  type: z.enum(['new', 'update', 'end']),
  id: z.string().min(1).max(64),
  seq: z.number().int().min(0).max(1e9),
  start: stamp,
  last: stamp,
  end: stamp.nullable(),
  peak: z.object({ score: z.number(), frame: z.number().int(), time: z.string().max(64) }),
  mean: z.number(),
  frames: z.number().int().min(0),
  threshold: z.object({ on: z.number(), off: z.number(), min_frames: z.number(), confirm: z.number().nullable().optional() }),
  model_sha256: z.string().max(128),
  trace: z.array(z.tuple([z.number(), z.number()])).max(100_000),
  reason: z.enum(['below-threshold', 'stream-end']).optional(),
  clip: z.object({ recording: z.literal(true) }).optional(),
}).passthrough();

/** `sfn/<device>/events/<id>/description` */
export const descriptionSchema = z.object({
  event_id: z.string().min(1).max(64),
  stage: z.enum(['start', 'peak']),
  frame: z.number().int(),
  time: z.string().max(64),
  caption: z.string().max(10_000),
  structured: z.unknown(),
  captioner: z.string().max(256),
  ms: z.number(),
}).passthrough();

/** `sfn/<device>/events/<id>/clip` */
export const clipSchema = z.object({
  event_id: z.string().min(1).max(64),
  device_id: z.string().max(128),
  video: z.string().max(1024),
  snapshot: z.string().max(1024),
}).passthrough();

/** `sfn/<device>/source/state` */
export const sourceStateSchema = z.object({
  state: z.enum(['up', 'down', 'reconnecting']),
}).passthrough();

// compile-time checks that the schemas agree with the shared types
type Same<A, B> = [A] extends [B] ? true : false;
const _event: Same<Pick<z.infer<typeof eventSchema>, 'id' | 'seq' | 'type'>, Pick<AnomalyEvent, 'id' | 'seq' | 'type'>> = true;
const _desc: Same<Pick<z.infer<typeof descriptionSchema>, 'event_id' | 'caption'>, Pick<EventDescription, 'event_id' | 'caption'>> = true;
void _event;
void _desc;
