/**
 * This process's `--import X` / `--import=X` flags (the tsx loader when run from source), without
 * test-runner or other flags: what a child process or worker thread needs to load our modules the
 * same way (a `.ts` entry under tsx, a `.js` one from dist/).
 */
export function loaderArgs(): string[] {
  const a = process.execArgv;
  const out: string[] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--import' && a[i + 1]) out.push('--import', a[++i]!);
    else if (a[i]!.startsWith('--import=')) out.push(a[i]!);
  }
  return out;
}
