/**
 * AdamW (Loshchilov & Hutter 2019) with a per-step learning rate, global-norm gradient clipping,
 * and linear warm-up followed by cosine decay. Written here because tfjs' Adam fixes its learning
 * rate at construction and has neither decoupled weight decay nor clipping.
 */
import { nativeActive, tf } from '../model/backend.js';
import { nativeAdamW, nativeSumSquares } from '../model/native.js';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** decoupled weight decay, applied to linear and router weights only (not biases, LayerNorm, position embeddings) */
  weightDecay: number;
  /** clip the global L2 norm of the gradients to this value; 0 disables */
  clipNorm: number;
}

export const DEFAULT_ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clipNorm: 1.0 };

/**
 * Learning rate at `step` (0-based): linear warm-up over `warmup` steps to `peak`, then cosine decay
 * to `peak * floor` at `total` steps.
 */
export function lrAt(step: number, total: number, peak: number, warmup: number, floor = 0.05): number {
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const t = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return peak * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * t)));
}

export class AdamW {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  step = 0;

  constructor(
    private readonly params: Map<string, tf.Variable>,
    readonly opts: AdamWOptions = DEFAULT_ADAMW,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /** Releases the moment estimates. */
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }

  /**
   * Applies one update with learning rate `lr` from `grads` (keyed by the tfjs variable name, as
   * `tf.variableGrads` returns them; same shapes as the params). Returns the global gradient norm before clipping.
   */
  apply(grads: Record<string, tf.Tensor>, lr: number): number {
    const { beta1, beta2, eps, weightDecay, clipNorm } = this.opts;
    this.step += 1;
    const native = nativeActive(); // one fused kernel per parameter (model/native.ts), same arithmetic
    const norm = native ? Math.sqrt(nativeSumSquares(Object.values(grads))) : tf.tidy(() => Math.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))).dataSync()[0]!));
    const scale = clipNorm > 0 && norm > clipNorm ? clipNorm / norm : 1;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g0 = grads[p.name];
        if (!g0) continue;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        const decays = /\.(w|w1|w2|router)$/.test(name) && weightDecay > 0;
        if (native) {
          const [np, nm, nv] = nativeAdamW(p, m, v, g0, { scale, beta1, beta2, bc1, bc2, eps, lr, decay: decays ? lr * weightDecay : 0 });
          m.assign(nm);
          v.assign(nv);
          p.assign(np);
          continue;
        }
        const g = scale === 1 ? g0 : tf.mul(g0, scale);
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), eps));
        const decay = decays ? tf.mul(p, lr * weightDecay) : null;
        p.assign(tf.sub(p, decay ? tf.add(tf.mul(update, lr), decay) : tf.mul(update, lr)));
      }
    });
    return norm;
  }
}
