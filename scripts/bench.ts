// `npm run bench [-- --json ...]`: `sfn-edge bench` from the sources (no build step needed).
// `npm run bench -- collect [...]`: the collector bench (scripts/bench/collect.ts; needs `npm run build`).
// `npm run bench -- streams [...]`: cameras per device (scripts/bench/streams.ts; needs `npm run build`).
import { main } from '../src/cli.js';

const SUB_BENCHES: Record<string, () => Promise<{ run(argv: string[]): Promise<void> }>> = {
  collect: () => import('./bench/collect.js'),
  streams: () => import('./bench/streams.js'),
};

const sub = process.argv[2] !== undefined ? SUB_BENCHES[process.argv[2]] : undefined;
if (sub) await (await sub()).run(process.argv.slice(3));
else await main([...process.argv.slice(0, 2), 'bench', ...process.argv.slice(2)]);
