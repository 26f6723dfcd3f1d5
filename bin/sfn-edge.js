#!/usr/bin/env node
// Entry point of the `sfn-edge` command: runs the compiled CLI (built by `npm install` / `npm run build`).
import { main } from '../dist/cli.js';

main(process.argv).catch((err) => {
  process.stderr.write(`sfn-edge: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
