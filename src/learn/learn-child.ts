/**
 * Child-process entry of a device's `cmd/learn` (service.ts): receives LearnOptions (without
 * callbacks) over IPC, runs the pipeline and sends `{progress}` messages, then `{result}` or
 * `{error}`, and exits. The whole pipeline (recording, training, export, int8, calibration) runs
 * here, so the device's frame loop keeps its process to itself.
 */
import type { LearnOptions, LearnProgress, LearnResult } from './pipeline.js';

type ChildLearnOptions = Omit<LearnOptions, 'onProgress' | 'signal' | 'onTrainLog'>;

process.once('message', (o: ChildLearnOptions) => {
  void (async () => {
    try {
      const { runLearn } = await import('./pipeline.js');
      const result: LearnResult = await runLearn({ ...o, onProgress: (progress: LearnProgress) => process.send!({ progress }) });
      process.send!({ result }, () => process.exit(0));
    } catch (err) {
      process.send!({ error: (err as Error).message }, () => process.exit(1));
    }
  })();
});
process.on('disconnect', () => process.exit(1)); // the device went away: stop
