/**
 * Entry point of the single executable (Node SEA) built by `sfn-edge flash build`. esbuild bundles
 * this file with the whole CLI into one CommonJS script; the banner written by sea.ts replaces
 * `require` by one rooted beside the executable, so the native addons shipped in
 * `<bundle>/node_modules` load from there.
 */
import { main } from '../cli.js';
import { onnxruntimeVersion, versionText } from '../util/version.js';

/** Build facts injected by esbuild's `define` (sea.ts). */
declare const __SFN_BUILD__: { version: string; arch: string; node: string };

const argv = process.argv.slice(2);
if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version') {
  const b = __SFN_BUILD__;
  // Same line as `sfn-edge --version` (util/version.ts): the ORT version is read from the
  // onnxruntime-node shipped beside the executable (import.meta.url is rooted there by sea.ts).
  const onnxruntime = onnxruntimeVersion(import.meta.url);
  const line = versionText({ version: b.version, platform: process.platform, arch: process.arch, node: process.version, onnxruntime });
  process.stdout.write(`${line}, built for linux-${b.arch} by node ${b.node}\n`);
} else {
  main([process.execPath, 'sfn-edge', ...argv]).catch((err: unknown) => {
    process.stderr.write(`sfn-edge: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
