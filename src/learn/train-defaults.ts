/**
 * `train`'s defaults, read from the `train` command's own option table (src/cli.ts), so that
 * `learn` trains with exactly what `sfn-edge train --data D --out O` would use and never keeps a
 * second copy of a hyper-parameter. Options without a default (epochs, warm-up: the recipe sizes
 * them to the data) stay unset, so `train()` applies the recipe.
 */
import type { TrainOptions } from '../train/train.js';

/** The TrainOptions fields that `train`'s command line sets by the same name. */
const FIELDS = new Set(['epochs', 'batch', 'lr', 'warmup', 'pseudoShare', 'holdBack', 'weightDecay', 'clipNorm', 'seed', 'resume', 'checkpointEvery', 'model', 'simWeight']);

/**
 * TrainOptions for `data` -> `out` with `train`'s command-line defaults, then `over` on top.
 * @throws Error when the `train` command is missing from the program or its `--model` default is not JSON.
 */
export async function trainDefaults(data: string, out: string, over: Partial<TrainOptions> = {}): Promise<TrainOptions> {
  const { program } = await import('../cli.js');
  const cmd = program().commands.find((c) => c.name() === 'train');
  if (!cmd) throw new Error('learn: the train command is not registered in src/cli.ts');
  const d: Record<string, unknown> = {};
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    if (FIELDS.has(key) && opt.defaultValue !== undefined) d[key] = opt.defaultValue;
  }
  if (typeof d.model === 'string') d.model = JSON.parse(d.model) as object;
  return { ...(d as unknown as TrainOptions), model: (d.model as TrainOptions['model']) ?? {}, ...over, data, out };
}
