// A node:test reporter that writes one JSON line per skipped suite or test (name, file, reason).
// Node 20's summary counts a skipped `describe` as nothing ("skipped 0"), so scripts/test.mjs
// reads these lines to name every skip. Used as `--test-reporter=./scripts/skip-reporter.mjs`.
export default async function* skipReporter(source) {
  for await (const e of source) {
    if ((e.type === 'test:pass' || e.type === 'test:fail') && e.data.skip !== undefined && e.data.skip !== false) {
      const reason = typeof e.data.skip === 'string' ? e.data.skip : '(no reason given)';
      yield `${JSON.stringify({ name: e.data.name, file: e.data.file ?? null, suite: e.data.details?.type === 'suite', reason })}\n`;
    }
  }
}
