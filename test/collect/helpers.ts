/** Shared helpers of the collect tests: an AnomalyEvent-shaped message and a bounded wait. */

/** An event message of the shape AnomalyEvent. */
export function eventMsg(id: string, seq: number, score = 5, time = '2026-12-07T07:00:00.000Z'): Record<string, unknown> {
  const st = { frame: 10, time };
  return { type: seq === 0 ? 'new' : 'update', id, seq, start: st, last: st, end: null, peak: { score, frame: 10, time }, mean: score, frames: 1, threshold: { on: 4, off: 2, min_frames: 8 }, model_sha256: 'ab', trace: [[10, score]] };
}

/** Waits (at most `ms`, polling every 50 ms) until `cond` holds. @throws when it does not */
export async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  for (let i = 0; i < ms / 50; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${ms} ms`);
}
