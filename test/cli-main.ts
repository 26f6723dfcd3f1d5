/** The `sfn-edge` command from the sources, for tests that run it as a real process (as bin/sfn-edge.js does from dist/). */
import { main } from '../src/cli.js';

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`sfn-edge: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
