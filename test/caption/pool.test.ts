import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { DetectorCaptioner } from '../../src/caption/captioner.js';
import { captionVideo } from '../../src/caption/dataset.js';
import { CaptionPool } from '../../src/caption/pool.js';

const PED2 = '../shared/datasets/ucsd_ped2/testing/frames';

/** A short copy of a Ped2 test video: frames `from`..`from + n - 1` of `video`. */
async function clip(root: string, video: string, from: number, n: number): Promise<string> {
  const dir = join(root, `${video}-${from}`);
  await mkdir(dir);
  for (let i = 0; i < n; i++) await copyFile(join(PED2, video, `${String(from + i).padStart(3, '0')}.jpg`), join(dir, `${String(i).padStart(3, '0')}.jpg`));
  return dir;
}

test('a pool of 2 workers captions videos in parallel with the same result as one captioner in order; a bad video rejects by name', async () => {
  const root = await mkdtemp(join(tmpdir(), 'sfn-pool-'));
  const videos = [await clip(root, '01', 160, 4), await clip(root, '02', 100, 3), await clip(root, '04', 1, 3)];
  const bad = join(root, 'bad');
  await mkdir(bad);
  await writeFile(join(bad, '000.jpg'), 'not a jpeg');

  const pool = await CaptionPool.start(2);
  let parallel;
  try {
    assert.equal(pool.size, 2);
    const jobs = [...videos.map((v, i) => pool.captionVideo(v, i === 2 ? 2 : 1)), pool.captionVideo(bad)];
    await assert.rejects(jobs[3]!, /000\.jpg/);
    parallel = await Promise.all(jobs.slice(0, 3));
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.captionVideo(videos[0]!), /captioner unavailable/);

  const c = await DetectorCaptioner.create();
  try {
    for (let i = 0; i < videos.length; i++) {
      const ref = await captionVideo(c, videos[i]!, i === 2 ? 2 : 1);
      assert.deepEqual(parallel[i], ref, `video ${i}`);
    }
  } finally {
    await c.close();
  }
  // every 2nd frame captioned, the caption repeated in between
  assert.equal(parallel[2]!.texts.length, 3);
  assert.deepEqual(parallel[2]!.embeddings[1], parallel[2]!.embeddings[0]);
  assert.ok(parallel[0]!.texts.every((t) => t.length > 0));
});
