/**
 * Target architectures of a flash bundle and how devices name them (`uname -m`).
 */

/** Architectures a bundle can be built for (Node's `process.arch` names). */
export const ARCHES = ['x64', 'arm64'] as const;
/** One of {@link ARCHES}. */
export type Arch = (typeof ARCHES)[number];

const UNAME: Record<string, Arch> = { x86_64: 'x64', amd64: 'x64', aarch64: 'arm64', arm64: 'arm64' };

/** The {@link Arch} of a `uname -m` answer, or null for an architecture no bundle exists for (e.g. armv7l). */
export function archOfUname(machine: string): Arch | null {
  return UNAME[machine.trim()] ?? null;
}

/**
 * Parses an `--arch` value.
 * @throws Error naming the accepted values.
 */
export function parseArch(v: string): Arch {
  if ((ARCHES as readonly string[]).includes(v)) return v as Arch;
  const a = archOfUname(v);
  if (a) return a;
  throw new Error(`unknown architecture '${v}'; use one of: ${ARCHES.join(', ')}`);
}

/** Debian's multiarch tuple of each {@link Arch}: shared libraries live in `/usr/lib/<tuple>/`. */
export const TRIPLETS: Record<Arch, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
