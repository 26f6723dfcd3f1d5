import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend, tf } from '../../src/model/backend.js';
import { rng } from '../../src/model/sfn.js';
import { loadBalancingLoss, sffm, type SffmParams } from '../../src/model/sffm.js';

const D = 6;
const E = 5;
const d = 2;
const K = 2;

function rand(n: number, r: () => number, scale = 0.5): number[] {
  return Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** Random SFFM parameters, and the same values as plain arrays for the reference computation. */
function makeParams(seed: number, shared: boolean) {
  const r = rng(seed);
  const raw = {
    router: rand(D * E, r, 2),
    lnG: rand(E * D, r).map((x) => 1 + x),
    lnB: rand(E * D, r),
    w1: rand(D * E * d, r),
    b1: rand(E * d, r),
    w2: rand(E * d * D, r),
    b2: rand(E * D, r),
    sG: rand(D, r).map((x) => 1 + x),
    sB: rand(D, r),
    sW1: rand(D * d, r),
    sB1: rand(d, r),
    sW2: rand(d * D, r),
    sB2: rand(D, r),
  };
  const v = (a: number[], shape: number[]) => tf.variable(tf.tensor(a, shape));
  const p: SffmParams = {
    router: v(raw.router, [D, E]),
    lnGamma: v(raw.lnG, [E, D]),
    lnBeta: v(raw.lnB, [E, D]),
    w1: v(raw.w1, [D, E * d]),
    b1: v(raw.b1, [E * d]),
    w2: v(raw.w2, [E * d, D]),
    b2: v(raw.b2, [E, D]),
    ...(shared
      ? { shared: { lnGamma: v(raw.sG, [D]), lnBeta: v(raw.sB, [D]), w1: v(raw.sW1, [D, d]), b1: v(raw.sB1, [d]), w2: v(raw.sW2, [d, D]), b2: v(raw.sB2, [D]) } }
      : {}),
  };
  return { p, raw };
}

const silu = (x: number) => x / (1 + Math.exp(-x));
function ln(x: number[], g: number[], b: number[]): number[] {
  const m = x.reduce((a, c) => a + c, 0) / x.length;
  const v = x.reduce((a, c) => a + (c - m) ** 2, 0) / x.length;
  return x.map((c, i) => ((c - m) / Math.sqrt(v + 1e-5)) * g[i]! + b[i]!);
}

/** Per-expert loop, straight from the paper's definition (no packing, no folding). */
function reference(x: number[], raw: ReturnType<typeof makeParams>['raw'], shared: boolean, scale: number) {
  const logits = Array.from({ length: E }, (_, e) => x.reduce((a, xi, i) => a + xi * raw.router[i * E + e]!, 0));
  const mx = Math.max(...logits);
  const ex = logits.map((l) => Math.exp(l - mx));
  const probs = ex.map((z) => z / ex.reduce((a, c) => a + c, 0));
  const chosen = probs.map((p, e) => [p, e] as const).sort((a, b) => b[0] - a[0]).slice(0, K).map(([, e]) => e);
  const sumChosen = chosen.reduce((a, e) => a + probs[e]!, 0);
  const gates = probs.map((p, e) => (chosen.includes(e) ? (scale * p) / sumChosen : 0));
  const y = new Array<number>(D).fill(0);
  for (let e = 0; e < E; e++) {
    if (gates[e] === 0) continue;
    const xn = ln(x, raw.lnG.slice(e * D, e * D + D), raw.lnB.slice(e * D, e * D + D));
    const h = Array.from({ length: d }, (_, j) => silu(xn.reduce((a, xi, i) => a + xi * raw.w1[i * E * d + e * d + j]!, 0) + raw.b1[e * d + j]!));
    for (let o = 0; o < D; o++) y[o]! += gates[e]! * (h.reduce((a, hj, j) => a + hj * raw.w2[(e * d + j) * D + o]!, 0) + raw.b2[e * D + o]!);
  }
  if (shared) {
    const xn = ln(x, raw.sG, raw.sB);
    const h = Array.from({ length: d }, (_, j) => silu(xn.reduce((a, xi, i) => a + xi * raw.sW1[i * d + j]!, 0) + raw.sB1[j]!));
    for (let o = 0; o < D; o++) y[o]! += h.reduce((a, hj, j) => a + hj * raw.sW2[j * D + o]!, 0) + raw.sB2[o]!;
  }
  return { y, gates, chosen };
}

describe('SFFM (router + bottleneck experts)', () => {
  before(async () => {
    await initBackend();
  });

  for (const shared of [true, false]) {
    it(`matches the per-expert definition (top-k, renormalised, x2.0${shared ? ', shared expert' : ''})`, () => {
      const { p, raw } = makeParams(7, shared);
      const r = rng(99);
      const T = 9;
      const xs = rand(T * D, r, 1.5);
      const { y, routing } = sffm(p, tf.tensor2d(xs, [T, D]), K, 2.0);
      const got = y.arraySync();
      const mask = routing.mask.arraySync();
      for (let t = 0; t < T; t++) {
        const ref = reference(xs.slice(t * D, t * D + D), raw, shared, 2.0);
        for (let o = 0; o < D; o++) assert.ok(Math.abs(got[t]![o]! - ref.y[o]!) < 1e-5, `token ${t} out ${o}: ${got[t]![o]} vs ${ref.y[o]}`);
        assert.deepEqual(mask[t]!.map((m, e) => (m ? e : -1)).filter((e) => e >= 0).sort(), [...ref.chosen].sort());
        assert.ok(Math.abs(ref.gates.reduce((a, g) => a + g, 0) - 2.0) < 1e-9, 'gates of the chosen experts sum to the scale');
      }
    });
  }

  it('the shared expert is always on: with every routed expert zeroed the output is the shared expert alone', () => {
    const { p, raw } = makeParams(3, true);
    p.w2.assign(tf.zerosLike(p.w2));
    p.b2.assign(tf.zerosLike(p.b2));
    const xs = rand(4 * D, rng(5), 1);
    const got = sffm(p, tf.tensor2d(xs, [4, D]), K, 2.0).y.arraySync();
    for (let t = 0; t < 4; t++) {
      const ref = reference(xs.slice(t * D, t * D + D), { ...raw, w2: raw.w2.map(() => 0), b2: raw.b2.map(() => 0) }, true, 2.0);
      assert.ok(ref.y.some((v) => Math.abs(v) > 1e-3), 'shared expert output is not trivially zero');
      for (let o = 0; o < D; o++) assert.ok(Math.abs(got[t]![o]! - ref.y[o]!) < 1e-5);
    }
  });

  it('gradients reach every chosen expert and no expert that was never chosen', () => {
    const { p } = makeParams(11, true);
    const T = 3; // 3 tokens x top-2: at most 6 of 5 experts, some stay unused for this seed
    const x = tf.tensor2d(rand(T * D, rng(12), 1.5), [T, D]);
    let mask: number[][] = [];
    const { grads } = tf.variableGrads(() => {
      const f = sffm(p, x, K, 2.0);
      mask = f.routing.mask.arraySync();
      return tf.sum(tf.square(f.y)) as tf.Scalar;
    }, [p.w1, p.w2, p.b2, p.router, p.shared!.w1]);
    const used = new Set(mask.flatMap((row) => row.map((m, e) => (m ? e : -1)).filter((e) => e >= 0)));
    assert.ok(used.size < E, 'test needs at least one unused expert');
    const gw2 = grads[p.w2.name]!.arraySync() as number[][];
    const gw1 = grads[p.w1.name]!.arraySync() as number[][];
    for (let e = 0; e < E; e++) {
      const n2 = gw2.slice(e * d, e * d + d).flat().reduce((a, v) => a + Math.abs(v), 0);
      const n1 = gw1.flatMap((row) => row.slice(e * d, e * d + d)).reduce((a, v) => a + Math.abs(v), 0);
      if (used.has(e)) {
        assert.ok(n2 > 0 && n1 > 0, `expert ${e} was chosen but got no gradient`);
      } else {
        assert.equal(n2, 0, `expert ${e} was never chosen but its W2 got gradient`);
        assert.equal(n1, 0, `expert ${e} was never chosen but its W1 got gradient`);
      }
    }
    assert.ok((grads[p.router.name]!.abs().sum().arraySync() as number) > 0, 'router gets gradient through the gate weights');
    assert.ok((grads[p.shared!.w1.name]!.abs().sum().arraySync() as number) > 0, 'shared expert gets gradient');
  });
});

describe('sequence-level load-balancing loss', () => {
  before(async () => {
    await initBackend();
  });

  it('matches a hand-computed case', () => {
    // 2 sequences x 2 tokens, E = 3, k = 1.
    // seq 0: probs [.6,.3,.1] -> e0, [.2,.7,.1] -> e1 ; seq 1: [.5,.25,.25] -> e0, [.4,.4,.2] -> e0 (tie: lower index)
    // f_i = E/(k T) * count_i = 3/2 * count ; P_i = mean probs
    // seq 0: f = [1.5, 1.5, 0], P = [.4, .5, .1]      -> L0 = .6 + .75 = 1.35
    // seq 1: f = [3, 0, 0],     P = [.45, .325, .225] -> L1 = 1.35
    // mean = 1.35
    const probs = tf.tensor2d([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.25, 0.25], [0.4, 0.4, 0.2]]);
    const mask = tf.tensor2d([[1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0]]);
    const l = loadBalancingLoss({ probs, mask }, 2, 1).arraySync() as number;
    assert.ok(Math.abs(l - 1.35) < 1e-6, `got ${l}`);
  });

  it('is 1 for perfectly balanced routing', () => {
    const probs = tf.fill([4, 4], 0.25) as tf.Tensor2D;
    const mask = tf.tensor2d([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0], [0, 1, 0, 1]]);
    assert.ok(Math.abs((loadBalancingLoss({ probs, mask }, 1, 2).arraySync() as number) - 1) < 1e-6);
  });
});
