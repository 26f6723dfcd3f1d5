/**
 * The default model of `run` / `eval --online` is the one `<models root>/default.json` names: file
 * names never pick it (an extra `aaa.onnx` sorting first changes nothing), and a missing or broken
 * default.json is an error naming the file and what to do. Also: the committed default.json names an
 * installed frame-only fp32 model, and the device profiles' variants are installed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { listProfiles } from '../../src/device/profile.js';
import { readManifest } from '../../src/core/manifest.js';
import { runModels } from '../../src/optimize/models.js';
import { defaultModel, defaultModelVariant, defaultVariant } from '../../src/core/default-model.js';
import { profileModel } from '../../src/runtime/command.js';

describe('the default model (models/default.json)', () => {
  let root = '';
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-default-'));
  });
  after(async () => {
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  it('is the named model, whatever else the folders hold', async () => {
    await fs.mkdir(path.join(root, 'fp32'), { recursive: true });
    await fs.mkdir(path.join(root, 'int8'), { recursive: true });
    for (const f of ['fp32/sfn-lite-ped2.onnx', 'fp32/aaa.onnx', 'fp32/0-mycam.onnx', 'int8/aaa.onnx', 'aaa.onnx']) await fs.writeFile(path.join(root, f), 'x');
    await fs.writeFile(path.join(root, 'default.json'), JSON.stringify({ model: 'fp32/sfn-lite-ped2.onnx' }));
    assert.equal(await defaultModel(root), path.join(root, 'fp32', 'sfn-lite-ped2.onnx'));
    assert.deepEqual(await defaultModelVariant(root), { variant: 'fp32/sfn-lite-ped2', path: path.join(root, 'fp32', 'sfn-lite-ped2.onnx') });
    // an aaa.onnx manifest that claims nothing special changes nothing either
    await fs.writeFile(path.join(root, 'fp32', 'aaa.manifest.json'), '{}');
    assert.equal(await defaultModel(root), path.join(root, 'fp32', 'sfn-lite-ped2.onnx'));
  });

  it('a missing or broken default.json is a clear error naming the file and the fix', async () => {
    const file = path.join(root, 'default.json');
    const named = (re: RegExp) => (err: unknown) => {
      const msg = (err as Error).message;
      assert.ok(msg.includes(file), `names ${file}: ${msg}`);
      assert.match(msg, /--model <file\.onnx>/);
      assert.match(msg, re);
      return true;
    };
    await fs.rm(file);
    await assert.rejects(defaultModel(root), named(/is missing; write .*default\.json as \{"model": "<precision>\/<name>\.onnx"\}/));
    assert.equal(await defaultVariant(root), null);
    await fs.writeFile(file, '{"model": ');
    await assert.rejects(defaultModel(root), named(/is not valid JSON/));
    await fs.writeFile(file, '{"file": "fp32/sfn-lite-ped2.onnx"}');
    await assert.rejects(defaultModel(root), named(/has no "model" string/));
    await fs.writeFile(file, '["fp32/sfn-lite-ped2.onnx"]');
    await assert.rejects(defaultModel(root), named(/has no "model" string/));
    await fs.writeFile(file, '{"model": "fp32/gone.onnx"}');
    await assert.rejects(defaultModel(root), named(/names .*fp32\/gone\.onnx, which does not exist/));
    await fs.writeFile(file, '{"model": "../elsewhere.onnx"}');
    await assert.rejects(defaultModel(root), named(/not a path inside/));
    await fs.writeFile(file, '{"model": "fp32/sfn-lite-ped2.manifest.json"}');
    await assert.rejects(defaultModel(root), named(/not an \.onnx file/));
  });

  it('the committed default.json names an installed frame-only fp32 model; `models` marks it', async () => {
    const file = await defaultModel();
    assert.equal(file, path.join('models', 'fp32', 'sfn-lite-ped2.onnx'));
    const { manifest } = await readManifest(file);
    assert.equal(manifest.precision, 'fp32');
    assert.equal(manifest.semantic, undefined, 'frame-only: captions cost CPU and add little online on Ped2');
    const printed: string[] = [];
    await runModels({ root: 'models' }, (s) => printed.push(s));
    assert.match(printed[0]!, /^fp32\/sfn-lite-ped2 .* ok, default$/m);
    assert.equal(printed.filter((l) => /ok, default/.test(l)).length, 1);
    assert.match(printed.join('\n'), /default model \(run, eval --online\): fp32\/sfn-lite-ped2 \(models\/default\.json\)/);
  });

  it('every device profile names an installed variant (it wins over the default)', async () => {
    for (const p of await listProfiles()) assert.equal(await profileModel(p), path.join('models', `${p.model.variant}.onnx`), p.name);
  });
});
