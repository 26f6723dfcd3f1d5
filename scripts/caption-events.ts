/**
 * What the on-device captions say about the events of `sfn-edge run` on a labelled data set (Ped2
 * layout): each test video is run as `run --realtime=false` with the default configuration (captions
 * on), against an embedded broker; the script records every event and its `events/<id>/description`
 * messages and writes, per event, the frames, whether they overlap labelled anomalous frames, the
 * start and peak captions, and the snapshot of the peak frame.
 * Usage: node --import tsx scripts/caption-events.ts <model.onnx> [dataset root] [out.json]
 * Output: the JSON file (default docs/captions-ped2.json) and a Markdown table on stdout.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';

import { startEmbeddedBroker } from '../src/mqtt/broker.js';
import { runCommand } from '../src/runtime/command.js';
import { listVideos } from '../src/video/open.js';

const [model, root = '../shared/datasets/ucsd_ped2', out = 'docs/captions-ped2.json'] = process.argv.slice(2);
if (!model) throw new Error('usage: caption-events.ts <model.onnx> [dataset root] [out.json]');
const labels = JSON.parse(await readFile(join(root, 'test_frame_labels.json'), 'utf8')) as Record<string, number[]>;
const broker = await startEmbeddedBroker(0);
const client = await mqtt.connectAsync(broker.url);
const got: { topic: string; data: Record<string, unknown> }[] = [];
client.on('message', (topic, payload) => got.push({ topic, data: JSON.parse(payload.toString()) }));
await client.subscribeAsync('sfn/+/events/#', { qos: 1 });
const work = join(tmpdir(), `sfn-capev-${process.pid}`);
const rows: Record<string, unknown>[] = [];
for (const path of await listVideos(join(root, 'testing/frames'))) {
  const video = path.split('/').at(-1)!;
  const device = `ped2-${video}`;
  const s = await runCommand({ source: path, model, broker: broker.url, deviceId: device, realtime: 'false', clips: join(work, video, 'clips'), stateDir: join(work, video, 'state'), providers: 'cpu' }, () => undefined);
  await new Promise((r) => setTimeout(r, 500));
  const events = got.filter((m) => m.topic === `sfn/${device}/events` && m.data.type === 'end').map((m) => m.data as { id: string; start: { frame: number }; end: { frame: number }; peak: { frame: number; score: number }; clip?: { snapshot: string } });
  for (const e of events) {
    const d = (stage: string) => got.find((m) => m.topic === `sfn/${device}/events/${e.id}/description` && m.data.stage === stage)?.data as { caption: string; ms: number } | undefined;
    const l = labels[video]!;
    let anomalous = 0;
    for (let f = e.start.frame; f <= e.end.frame; f++) anomalous += l[f] ?? 0;
    rows.push({ video, event: e.id, start: e.start.frame, end: e.end.frame, peak: e.peak.frame, anomalous_frames: anomalous, start_caption: d('start')?.caption ?? null, peak_caption: d('peak')?.caption ?? null, caption_ms: d('peak')?.ms ?? null, snapshot: e.clip?.snapshot ?? null });
  }
  process.stderr.write(`${video}: ${events.length} events, ${s.captions ?? 0} captions\n`);
}
await client.endAsync();
await broker.close();
await mkdir(join(out, '..'), { recursive: true });
await writeFile(out, `${JSON.stringify(rows, null, 1)}\n`);
console.log('| video | frames | anomalous frames | peak | caption at the peak | caption at the start |\n| --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.video} | ${r.start}-${r.end} | ${r.anomalous_frames} | ${r.peak} | ${r.peak_caption} | ${r.start_caption} |`);
