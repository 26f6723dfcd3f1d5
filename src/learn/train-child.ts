/**
 * Child-process entry of `learn`'s training stage (src/learn/train-run.ts): receives one
 * TrainOptions over IPC, runs `train()` and answers `{result}` or `{error}`, then exits. Training is
 * CPU-bound and synchronous between steps; in its own process it cannot stall a frame loop or a
 * progress display. Logs (pino JSON) go to stderr, which the parent reads.
 */
import type { TrainOptions, TrainResult } from '../train/train.js';

process.once('message', (o: TrainOptions) => {
  void (async () => {
    try {
      const { train } = await import('../train/train.js');
      const result: TrainResult = await train({ ...o, progress: false });
      process.send!({ result }, () => process.exit(0));
    } catch (err) {
      process.send!({ error: (err as Error).message }, () => process.exit(1));
    }
  })();
});
