/**
 * scripts/test.mjs (the `npm test` command) names every skipped suite and test with its reason,
 * which Node 20's own summary leaves out for a skipped `describe` ("skipped 0"), and under CI=true a
 * suite skipped for a missing tool fails the run. Runs the real script on a fixture file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const FIXTURE = 'test/fixtures/skipped-suites.ts';

function runTests(env: Record<string, string>): { status: number | null; out: string } {
  // NODE_TEST_CONTEXT would make the inner runner skip its files (it thinks it runs inside this test)
  const { CI: _ci, NODE_TEST_CONTEXT: _ctx, ...rest } = process.env;
  const r = spawnSync(process.execPath, ['scripts/test.mjs', FIXTURE], { encoding: 'utf8', env: { ...rest, ...env }, timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe('npm test (scripts/test.mjs) and skipped suites', () => {
  it('names each skipped suite and test with its reason, and passes outside CI', () => {
    const r = runTests({});
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /skipped: 1 suite\(s\), 1 test\(s\)/);
    assert.match(r.out, /suite test\/fixtures\/skipped-suites\.ts > a suite whose tool is missing: missing tool: frobnicator .*apt-get install frobnicator/);
    assert.match(r.out, /test {2}test\/fixtures\/skipped-suites\.ts > skips for want of data: Ped2 not available/);
    assert.doesNotMatch(r.out, /Error: ran/);
  });

  it('under CI=true a suite skipped for a missing tool fails the run, naming it', () => {
    const r = runTests({ CI: 'true' });
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /CI=true: 1 suite\(s\) or test\(s\) skipped for a tool \.ci\/run should have installed:\n {2}test\/fixtures\/skipped-suites\.ts > a suite whose tool is missing/);
  });
});
