/**
 * ROC AUC and ROC curve for binary labels, exact (no binning), with tied scores handled the way
 * scikit-learn's `roc_auc_score` / `roc_curve` handle them.
 *
 * Convention: a higher score means "more anomalous"; label 1 = positive (anomalous), 0 = negative.
 */

/** Thrown when AUC / ROC inputs are unusable (length mismatch, non-binary labels, one class only, NaN). */
export class AucInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AucInputError';
  }
}

/** Validates inputs and returns the number of positives and negatives. */
function checkInputs(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  what: string,
): { pos: number; neg: number } {
  if (scores.length !== labels.length) {
    throw new AucInputError(
      `${what}: scores and labels differ in length (${scores.length} scores, ${labels.length} labels)`,
    );
  }
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l === 1) pos++;
    else if (l === 0) neg++;
    else throw new AucInputError(`${what}: label ${i} is ${String(l)}; labels must be 0 or 1`);
    const s = scores[i] as number;
    if (Number.isNaN(s)) throw new AucInputError(`${what}: score ${i} is NaN`);
  }
  if (pos === 0 || neg === 0) {
    throw new AucInputError(
      `${what}: only one class present in labels (${pos} positive, ${neg} negative); ` +
        'ROC AUC is undefined without both classes',
    );
  }
  return { pos, neg };
}

/**
 * Area under the ROC curve, exact, via the Mann-Whitney U statistic with average ranks:
 *
 *   AUC = (R+ - P(P+1)/2) / (P·N)
 *
 * where R+ is the sum of the (1-based, ties given their average rank) ranks of the positive
 * samples among all scores, P the number of positives and N the number of negatives. This equals
 * P(score+ > score-) + 0.5·P(score+ = score-) over all positive/negative pairs, which is exactly the
 * trapezoidal area under the ROC curve that scikit-learn's `roc_auc_score` computes, ties
 * included. O(n log n).
 *
 * @param scores one score per sample; higher = more likely positive. ±Infinity allowed, NaN not.
 * @param labels one label per sample, each 0 or 1 (1 = positive / anomalous).
 * @returns AUC in [0, 1].
 * @throws AucInputError if lengths differ, a label is not 0/1, a score is NaN, or only one class
 *   is present (AUC undefined).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { pos, neg } = checkInputs(scores, labels, 'rocAuc');
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (scores[a] as number) - (scores[b] as number));
  let rankSumPos = 0;
  let i = 0;
  while (i < n) {
    let j = i + 1;
    const s = scores[order[i] as number] as number;
    while (j < n && scores[order[j] as number] === s) j++;
    // Samples order[i..j-1] are tied; their 1-based ranks are i+1..j, average (i+1+j)/2.
    const avgRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if (labels[order[k] as number] === 1) rankSumPos += avgRank;
    }
    i = j;
  }
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** ROC curve points; the three arrays have equal length. */
export interface RocCurve {
  /** False-positive rate FP/N at each threshold, non-decreasing, from 0 to 1. */
  fpr: number[];
  /** True-positive rate TP/P at each threshold, non-decreasing, from 0 to 1. */
  tpr: number[];
  /** Decision thresholds (predict positive when score >= threshold), decreasing; first is +Infinity. */
  thresholds: number[];
}

/**
 * ROC curve with one point per distinct score (like scikit-learn's
 * `roc_curve(..., drop_intermediate=False)`), preceded by the point (0, 0) at threshold +Infinity.
 * Point k classifies "score >= thresholds[k]" as positive. Tied scores share one point, so the
 * trapezoidal area under (fpr, tpr) equals {@link rocAuc}.
 *
 * @param scores one score per sample; higher = more likely positive.
 * @param labels one label per sample, 0 or 1.
 * @throws AucInputError under the same conditions as {@link rocAuc}.
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): RocCurve {
  const { pos, neg } = checkInputs(scores, labels, 'rocCurve');
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (scores[b] as number) - (scores[a] as number));
  const fpr: number[] = [0];
  const tpr: number[] = [0];
  const thresholds: number[] = [Number.POSITIVE_INFINITY];
  let tp = 0;
  let fp = 0;
  let i = 0;
  while (i < n) {
    const s = scores[order[i] as number] as number;
    while (i < n && scores[order[i] as number] === s) {
      if (labels[order[i] as number] === 1) tp++;
      else fp++;
      i++;
    }
    fpr.push(fp / neg);
    tpr.push(tp / pos);
    thresholds.push(s);
  }
  return { fpr, tpr, thresholds };
}
