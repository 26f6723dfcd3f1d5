// `npm run bench [-- --json ...]`: `sfn-edge bench` from the sources (no build step needed).
import { main } from '../src/cli.js';

await main([...process.argv.slice(0, 2), 'bench', ...process.argv.slice(2)]);
