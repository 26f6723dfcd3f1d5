import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadProfile } from '../../src/device/profile.js';
import { profileModel } from '../../src/runtime/command.js';

describe('run --profile: the model variant a profile names', () => {
  it('resolves models/<variant>.onnx when installed, null (and the default model) when not', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-profile-'));
    try {
      const profile = await loadProfile('x86-64-cpu');
      assert.equal(await profileModel(profile, root), null);
      const file = path.join(root, `${profile.model.variant}.onnx`);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, 'x');
      assert.equal(await profileModel(profile, root), file);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
