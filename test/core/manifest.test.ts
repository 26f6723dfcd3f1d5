import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ManifestSchema, manifestPathFor, readManifest, writeManifest, type Manifest } from '../../src/core/manifest.js';
import { OnnxPredictor } from '../../src/inference/predictor.js';
import { quietExport, TINY, tinyWeights, tmpDir } from '../export/fixtures.js';

describe('manifest', () => {
  let dir: string;
  let model: string;
  let original: Manifest;

  before(async () => {
    dir = await tmpDir('manifest');
    const { base } = await tinyWeights(dir, TINY);
    model = path.join(dir, 'm.onnx');
    await quietExport({ weights: base, out: model });
    original = (await readManifest(model)).manifest;
  });
  after(async () => fs.rm(dir, { recursive: true, force: true }));

  it('sits beside the model with the same base name', () => {
    assert.equal(manifestPathFor('/a/b/model.onnx'), '/a/b/model.manifest.json');
    assert.equal(manifestPathFor('/a/b/model'), '/a/b/model.manifest.json');
  });

  it('round-trips through writeManifest / readManifest, evaluation added later', async () => {
    const copy = path.join(dir, 'copy.onnx');
    await fs.copyFile(model, copy);
    const withEval: Manifest = { ...original, file: 'copy.onnx', evaluation: { dataset: 'ped2', micro_auc: 0.91, macro_auc: 0.93, measure: 'mse', sigma: 5 } };
    assert.equal(await writeManifest(copy, withEval), path.join(dir, 'copy.manifest.json'));
    const back = await readManifest(copy);
    assert.deepEqual(back.manifest, withEval);
    assert.equal((back.manifest.evaluation as Record<string, unknown>).sigma, 5, 'extra evaluation fields are kept');
    assert.equal(back.bytes.byteLength, original.bytes);
    assert.ok(ManifestSchema.safeParse(back.manifest).success);
  });

  it('refuses to write an invalid manifest', async () => {
    await assert.rejects(writeManifest(path.join(dir, 'bad.onnx'), { ...original, precision: 'fp64' } as unknown as Manifest), /refusing to write an invalid manifest.*precision/s);
  });

  it('detects a modified model (one byte) by its sha256, in readManifest and OnnxPredictor.load', async () => {
    const bad = path.join(dir, 'bad.onnx');
    const bytes = await fs.readFile(model);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    await fs.writeFile(bad, bytes);
    await fs.copyFile(manifestPathFor(model), manifestPathFor(bad));
    const msg = new RegExp(`model ${bad.replace(/[.]/g, '\\.')} does not match its manifest \\(sha256 [0-9a-f]{64}.*\\); re-export or restore the file`);
    await assert.rejects(readManifest(bad), msg);
    await assert.rejects(OnnxPredictor.load(bad, { providers: ['cpu'] }), msg);
  });

  it('explains a missing model, a missing manifest, bad JSON and a foreign JSON', async () => {
    await assert.rejects(readManifest(path.join(dir, 'absent.onnx')), /model .*absent\.onnx not found/);
    const lone = path.join(dir, 'lone.onnx');
    await fs.copyFile(model, lone);
    await assert.rejects(readManifest(lone), /has no manifest \(.*lone\.manifest\.json not found\); export models with 'sfn-edge export'/);
    await fs.writeFile(manifestPathFor(lone), '{"format": ');
    await assert.rejects(readManifest(lone), /is not valid JSON/);
    await fs.writeFile(manifestPathFor(lone), JSON.stringify({ format: 'something-else', name: 'x' }));
    await assert.rejects(readManifest(lone), /is not an sfn-edge manifest \(sfn-edge-manifest\/1\):\n.*format/s);
  });
});
