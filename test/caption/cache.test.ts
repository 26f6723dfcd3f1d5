import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { cachedCaptions, videoFingerprint } from '../../src/caption/cache.js';
import { TEXT_DIM } from '../../src/caption/embed.js';

test('captions are cached per video and captioner; a changed frame or a corrupt entry captions again', async () => {
  const root = await mkdtemp(join(tmpdir(), 'sfn-capcache-'));
  const video = join(root, 'v');
  const cache = join(root, 'cache');
  await mkdir(video);
  await writeFile(join(video, '000.jpg'), 'a');
  let made = 0;
  const make = async () => {
    made++;
    return { texts: ['x'], embeddings: [Array.from({ length: TEXT_DIM }, () => made)] };
  };
  const a = await cachedCaptions(video, 'detector', make, cache);
  const b = await cachedCaptions(video, 'detector', make, cache);
  assert.equal(made, 1);
  assert.deepEqual(a, b);
  assert.notEqual(await videoFingerprint(video, 'detector'), await videoFingerprint(video, 'vlm'));
  await writeFile(join(video, '000.jpg'), 'bb');
  await utimes(join(video, '000.jpg'), new Date(), new Date(Date.now() + 5000));
  await cachedCaptions(video, 'detector', make, cache);
  assert.equal(made, 2, 'a changed frame misses');
  const fp = await videoFingerprint(video, 'detector');
  const [entry] = (await readdir(cache)).filter((f) => f.startsWith(fp));
  await writeFile(join(cache, entry!), '{not json');
  const c = await cachedCaptions(video, 'detector', make, cache);
  assert.equal(made, 3, 'a corrupt entry is made again');
  assert.equal(c.embeddings[0]![0], 3);
  await rm(root, { recursive: true, force: true });
});
