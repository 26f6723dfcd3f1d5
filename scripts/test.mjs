#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's test runner (Node 20's `--test` does not expand globs),
// then names every skipped suite and test with its reason: Node 20's own summary does not count a
// skipped `describe`. Under CI=true a suite skipped for a missing tool (test/tools.ts) fails the
// run, since .ci/run installs every tool the tests use.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MISSING_TOOL = 'missing tool:'; // test/tools.ts

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return find(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
}

// `npm test -- test/flash test/mqtt/tls.test.ts --test-name-pattern=x`: paths pick the files, the rest go to node
const args = process.argv.slice(2);
const picked = args.filter((a) => !a.startsWith('-') && existsSync(a));
const extra = args.filter((a) => !picked.includes(a));
const files = (picked.length ? picked.flatMap((p) => (statSync(p).isDirectory() ? find(p) : [p])) : find('test')).sort();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sfn-test-'));
const skipsFile = path.join(tmp, 'skips.jsonl');
const reporters = [
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=./scripts/skip-reporter.mjs', `--test-reporter-destination=${skipsFile}`,
];
// What the clone holds before the tests (untracked and ignored paths): the tests must add nothing
// to it (they write into the OS temp folder); dist/ and node_modules/ come from the install.
// Under CI=true a path left behind fails the run.
const clonePaths = () => {
  const g = spawnSync('git', ['status', '--ignored', '--porcelain'], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  return g.status === 0 ? new Set(g.stdout.split('\n').filter(Boolean).map((l) => l.slice(3))) : null;
};
const before = clonePaths();
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...reporters, ...extra, ...files], { stdio: 'inherit' });

let skips = [];
try {
  skips = readFileSync(skipsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
} catch {
  // no file: nothing was skipped, or the runner died before writing (its status says so)
}
rmSync(tmp, { recursive: true, force: true });

const where = (s) => (s.file ? path.relative(process.cwd(), s.file) : '?');
if (skips.length === 0) console.log('\nskipped: nothing');
else {
  console.log(`\nskipped: ${skips.filter((s) => s.suite).length} suite(s), ${skips.filter((s) => !s.suite).length} test(s)`);
  for (const s of skips) console.log(`  ${s.suite ? 'suite' : 'test '} ${where(s)} > ${s.name}: ${s.reason}`);
}
const after = before && clonePaths();
const leftovers = after ? [...after].filter((p) => !before.has(p) && !/^(dist|node_modules)\//.test(p)) : [];
if (leftovers.length > 0) {
  console.error(`\nthe tests left ${leftovers.length} path(s) in the clone (tests must write into the OS temp folder):`);
  for (const p of leftovers.slice(0, 20)) console.error(`  ${p}`);
}
const missing = skips.filter((s) => s.reason.startsWith(MISSING_TOOL));
if (process.env.CI === 'true' && leftovers.length > 0) process.exit(1);
if (process.env.CI === 'true' && missing.length > 0) {
  console.error(`\nCI=true: ${missing.length} suite(s) or test(s) skipped for a tool .ci/run should have installed:`);
  for (const s of missing) console.error(`  ${where(s)} > ${s.name}: ${s.reason}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
