import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { readCachedCaptions, storeCachedCaptions, videoFingerprint } from '../../src/caption/cache.js';
import { TEXT_DIM } from '../../src/caption/embed.js';

test('captions are cached per video and captioner; a changed frame or a corrupt entry misses', async () => {
  const root = await mkdtemp(join(tmpdir(), 'sfn-capcache-'));
  const video = join(root, 'v');
  const cache = join(root, 'cache');
  await mkdir(video);
  await writeFile(join(video, '000.jpg'), 'a');
  const captions = (v: number) => ({ texts: ['x'], embeddings: [Array.from({ length: TEXT_DIM }, () => v)] });
  assert.equal(await readCachedCaptions(video, 'detector', cache), null, 'nothing cached yet');
  await storeCachedCaptions(video, 'detector', captions(1), cache);
  assert.deepEqual(await readCachedCaptions(video, 'detector', cache), captions(1));
  assert.equal(await readCachedCaptions(video, 'vlm', cache), null, 'another captioner misses');
  assert.notEqual(await videoFingerprint(video, 'detector'), await videoFingerprint(video, 'vlm'));
  await writeFile(join(video, '000.jpg'), 'bb');
  await utimes(join(video, '000.jpg'), new Date(), new Date(Date.now() + 5000));
  assert.equal(await readCachedCaptions(video, 'detector', cache), null, 'a changed frame misses');
  await storeCachedCaptions(video, 'detector', captions(2), cache);
  const fp = await videoFingerprint(video, 'detector');
  const [entry] = (await readdir(cache)).filter((f) => f.startsWith(fp));
  await writeFile(join(cache, entry!), '{not json');
  assert.equal(await readCachedCaptions(video, 'detector', cache), null, 'a corrupt entry misses');
  await storeCachedCaptions(video, 'detector', captions(3), cache);
  assert.equal((await readCachedCaptions(video, 'detector', cache))!.embeddings[0]![0], 3, 'and is rewritten');
  await rm(root, { recursive: true, force: true });
});
