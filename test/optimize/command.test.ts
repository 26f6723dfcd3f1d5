import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readManifest, sha256, writeManifest } from '../../src/core/manifest.js';
import { decodeModel, encodeModel } from '../../src/export/onnx-graph.js';
import { runBench } from '../../src/optimize/bench.js';
import { runOptimize, type OptimizeSummary } from '../../src/optimize/command.js';
import { runModels } from '../../src/optimize/models.js';
import { TINY, tinyModel, tmpDir } from './fixtures.js';

const PED2 = '/work/shared/datasets/ucsd_ped2';
const hasPed2 = existsSync(path.join(PED2, 'training/frames/01'));

describe('sfn-edge optimize (tiny model, Ped2 clips)', { skip: !hasPed2 && 'Ped2 not available' }, () => {
  let dir: string;
  let model: string;
  let calib: string;
  let out: string;
  let summary: OptimizeSummary;
  before(async () => {
    dir = await tmpDir('optimize');
    model = (await tinyModel(dir, { ...TINY, experts: 8, topK: 2 })).file;
    calib = path.join(dir, 'calib');
    await fs.mkdir(calib);
    await fs.symlink(path.join(PED2, 'training/frames/01'), path.join(calib, '01'));
    out = path.join(dir, 'models');
    const lines: string[] = [];
    summary = await runOptimize({ model, calib, out, name: 'tiny', clips: 16, keep: 6, dataset: PED2, videos: ['01'], threads: 1 }, (l) => lines.push(l));
    assert.equal(lines.length, 1);
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  it('writes fp16, int8 and pruned variants with manifests that match them', async () => {
    assert.deepEqual(summary.variants.map((v) => `${v.precision}/${v.name}`).sort(), ['fp16/tiny', 'fp16/tiny-p6', 'int8/tiny', 'int8/tiny-p6']);
    for (const v of summary.variants) {
      const { manifest } = await readManifest(v.file); // sha256 checked
      assert.equal(manifest.precision, v.precision);
      assert.equal(manifest.experts.kept.length, 2);
      for (const k of manifest.experts.kept) assert.equal(k.length, v.name.endsWith('-p6') ? 6 : 8);
      assert.ok(manifest.optimization && manifest.optimization.calibration?.clips === 16);
      assert.ok(manifest.benchmark && manifest.benchmark.ms_per_frame > 0);
      assert.ok(manifest.evaluation && manifest.evaluation.micro_auc > 0 && manifest.evaluation.micro_auc <= 1);
    }
    assert.equal(summary.int8_candidates.length, 4); // 2 methods x router int8 or float
    const int8 = summary.variants.find((v) => v.name === 'tiny' && v.precision === 'int8')!;
    assert.ok(int8.method === 'minmax' || int8.method === 'percentile');
    assert.deepEqual(await fs.readdir(out).then((x) => x.filter((f) => f.startsWith('.optimize-'))), [], 'the staging folder is removed');
  });

  it('refuses bad input and overwrites nothing', async () => {
    const existing = path.join(out, 'int8', 'tiny.onnx');
    const before = await fs.readFile(existing);
    await assert.rejects(runOptimize({ model, calib, out, name: 'tiny', clips: 100000, threads: 1 }), /calibration folder .* has \d+ clips, 100000 requested/);
    await assert.rejects(runOptimize({ model, calib, out, name: 'tiny', clips: 8, keep: 1, threads: 1 }), /cannot keep 1 experts of 8/);
    await assert.rejects(runOptimize({ model: existing, calib, out, threads: 1 }), /is a int8 model; optimize takes the fp32 export/);
    const bad = path.join(dir, 'bad.onnx');
    await fs.copyFile(model, bad);
    await fs.copyFile(model.replace(/\.onnx$/, '.manifest.json'), path.join(dir, 'bad.manifest.json'));
    await fs.appendFile(bad, 'x');
    await assert.rejects(runOptimize({ model: bad, calib, out, threads: 1 }), /does not match its manifest/);
    // an opset and an input shape the optimizer does not handle
    const { manifest, bytes } = await readManifest(model);
    const m = decodeModel(bytes);
    m.opsetImport![0]!.version = 13;
    const old = path.join(dir, 'old.onnx');
    const oldBytes = encodeModel(m);
    await fs.writeFile(old, oldBytes);
    await writeManifest(old, { ...manifest, file: 'old.onnx', sha256: sha256(oldBytes), bytes: oldBytes.byteLength });
    await assert.rejects(runOptimize({ model: old, calib, out, threads: 1 }), /opset 13 is not supported/);
    const wide = path.join(dir, 'wide.onnx');
    await fs.writeFile(wide, bytes);
    await writeManifest(wide, { ...manifest, file: 'wide.onnx', inputs: [{ ...manifest.inputs[0]!, shape: ['N', 12, manifest.model.height, manifest.model.width] }] });
    await assert.rejects(runOptimize({ model: wide, calib, out, threads: 1 }), /input shape \[N, 12, 16, 24\] is not \[N, 4, 16, 24\]/);
    assert.deepEqual(await fs.readFile(existing), before);
  });

  it('models lists the variants; bench measures each and saves JSON', async () => {
    await fs.mkdir(path.join(out, 'fp32'), { recursive: true });
    await fs.copyFile(model, path.join(out, 'fp32', 'tiny.onnx'));
    await fs.copyFile(model.replace(/\.onnx$/, '.manifest.json'), path.join(out, 'fp32', 'tiny.manifest.json'));
    const printed: string[] = [];
    const entries = await runModels({ root: out }, (s) => printed.push(s));
    assert.deepEqual(entries.map((e) => e.variant), ['fp32/tiny', 'fp16/tiny', 'fp16/tiny-p6', 'int8/tiny', 'int8/tiny-p6']);
    assert.match(printed[0]!, /^variant +MB +experts +scores +int8_ranges +micro_auc +ms\/frame +sha256 +status\n/);
    assert.match(printed[0]!, /int8\/tiny-p6 .* 6\/8 .* (minmax|percentile) .* ok$/m);
    assert.match(printed[0]!, /^fp32\/tiny .* 8\/8 +(none|log-median-mad-2) +- /m, 'fp32: score calibration shown, no int8 ranges');
    assert.match(printed[1]!, /^scores: how run standardises errors/);

    const save = path.join(dir, 'bench', 'results.json');
    const r = await runBench({ root: out, profile: 'x86-64-cpu', threads: 1, runs: 3, save, json: true, peakSize: 128 }, () => {});
    assert.equal(r.rows.length, 5);
    for (const row of r.rows) {
      assert.equal(row.provider, 'cpu');
      assert.ok(row.ms_b1.p50 > 0 && row.ms_batch.p95 >= row.ms_batch.p50 && row.fps > 0 && row.peak_rss_mb > 10);
      assert.equal(row.batch, 8);
    }
    const fp32Row = r.rows.find((x) => x.variant === 'fp32/tiny')!;
    assert.equal(fp32Row.speedup_vs_fp32, 1);
    assert.equal(fp32Row.micro_auc, summary.source.micro_auc, 'the fp32 AUC measured by optimize');
    assert.ok(fp32Row.micro_auc !== null);
    assert.ok(r.rows.find((x) => x.variant === 'int8/tiny-p6')!.speedup_vs_unpruned! > 0);
    assert.ok(r.peak.fp32_gflops > 0 && r.macs_per_frame! > 0);
    // GFLOP/s from the MACs counted in the graph and the measured ms/frame, and its share of the peak
    assert.ok(Math.abs(fp32Row.gflops! - (2 * r.macs_per_frame!) / (fp32Row.ms_batch.p50 / 1000) / 1e9) < 1e-9);
    assert.ok(Math.abs(fp32Row.fraction_of_peak! - fp32Row.gflops! / r.peak.fp32_gflops) < 1e-9);
    assert.deepEqual(JSON.parse(await fs.readFile(save, 'utf8')).rows.length, 5);
    assert.ok(r.machine.loadavg_1min!.start >= 0 && r.machine.loadavg_1min!.end >= 0);

    // a chosen headline batch, a list of batches, a subset of the variants
    const lines: string[] = [];
    const rb = await runBench({ root: out, profile: 'x86-64-cpu', threads: 1, runs: 2, save, peakSize: 64, batch: 2, batches: [1, 2, 3], only: '^(fp32|int8)/tiny$' }, (l) => lines.push(l));
    assert.deepEqual(rb.rows.map((x) => x.variant), ['fp32/tiny', 'int8/tiny']);
    for (const row of rb.rows) {
      assert.equal(row.batch, 2);
      assert.deepEqual(Object.keys(row.ms_batches!).sort(), ['1', '2', '3']);
      assert.deepEqual(row.ms_batches!['2'], row.ms_batch);
      assert.ok(row.ms_batches!['3']!.p50 > 0);
      assert.deepEqual(Object.keys(row.cpu_ms_batches!).sort(), ['1', '2', '3'], 'CPU time per frame with 1 thread');
      assert.ok(row.cpu_ms_batches!['2']! > 0);
    }
    assert.equal(rb.rows[0]!.cpu_speedup_vs_fp32_by_batch!['1'], 1);
    assert.equal(rb.rows[0]!.speedup_vs_fp32_by_batch!['3'], 1);
    assert.ok(Math.abs(rb.rows[1]!.speedup_vs_fp32_by_batch!['2']! - rb.rows[1]!.speedup_vs_fp32!) < 1e-12);
    assert.ok(lines.some((l) => /^variant +ms b1 p50\/p95 +ms b2 p50\/p95 +ms b3 p50\/p95 +x fp32 b1/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^load average \(1 min\)/.test(l)));
    assert.ok(lines.some((l) => /^variant +CPU ms b1 +CPU ms b2 +CPU ms b3 +x fp32 CPU b1/.test(l)), lines.join('\n'));

    await fs.writeFile(path.join(out, 'fp16', 'tiny.onnx'), 'tampered');
    await assert.rejects(runModels({ root: out }, () => {}), /1 model\(s\) failed their check: fp16\/tiny \(model .* does not match its manifest/);
  });
});
