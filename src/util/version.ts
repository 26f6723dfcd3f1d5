/**
 * What `sfn-edge --version` reports: the kit's version (package.json), the platform it runs on and
 * the ONNX Runtime it would load (onnxruntime-node's package.json; no session is started and the
 * native addon is not loaded).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** The facts `--version` prints. */
export interface VersionInfo {
  /** sfn-edge's version (package.json) */
  version: string;
  /** process.platform, e.g. linux */
  platform: NodeJS.Platform;
  /** process.arch, e.g. arm64 */
  arch: string;
  /** process.version, e.g. v20.19.0 */
  node: string;
  /** onnxruntime-node's package version, null when the package cannot be found */
  onnxruntime: string | null;
}

/**
 * Reads the versions (synchronously: two small JSON files).
 * @throws Error when sfn-edge's own package.json (two folders above this file, as in src/ and
 *   dist/) cannot be read or parsed.
 */
export function versionInfo(): VersionInfo {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return {
    version: typeof pkg.version === 'string' ? pkg.version : 'unknown',
    platform: process.platform, arch: process.arch, node: process.version, onnxruntime: onnxruntimeVersion(import.meta.url),
  };
}

/**
 * onnxruntime-node's package version as `require` resolves it from `from` (a file URL), read
 * from its package.json (the native addon is not loaded); null when the package is not found.
 */
export function onnxruntimeVersion(from: string): string | null {
  try {
    const ort = createRequire(from)('onnxruntime-node/package.json') as { version?: unknown };
    return typeof ort.version === 'string' ? ort.version : null;
  } catch {
    return null;
  }
}

/**
 * The one line `--version` prints (no newline), e.g.
 * `sfn-edge 0.1.0 (linux-x64, node v20.19.0, onnxruntime-node 1.30.0)`.
 * @throws Error as {@link versionInfo}.
 */
export function versionText(v: VersionInfo = versionInfo()): string {
  const ort = v.onnxruntime === null ? 'onnxruntime-node not installed' : `onnxruntime-node ${v.onnxruntime}`;
  return `sfn-edge ${v.version} (${v.platform}-${v.arch}, node ${v.node}, ${ort})`;
}
