import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { defaultConfig } from '../../src/core/runtime-config.js';
import { detectorParams, onlineScoring } from '../../src/pipeline/scoring.js';
import { CALIBRATION_METHOD, type Calibration, type ScoredModel } from '../../src/scoring/calibration.js';

const spec = { width: 24, height: 16, color: 'gray' as const };
const stats = (on: number) => ({ loc: -9, scale: 0.5, on_at_fpr: on, max: on + 1, quantiles: [[0.1, on / 2], [0.01, on], [0.001, on + 0.5]] as [number, number][] });
function model(semantic: boolean): ScoredModel {
  const calibration: Calibration = {
    method: CALIBRATION_METHOD, eps: 1e-6, data: '/normal', part: 'calibration', split: { calibration: 0.15, check: 0.1 }, videos: 2, frames: 40, fpr: 0.01, sigma: 3,
    patch: { size: 8, stride: 8, rows: 2, cols: 3, loc: new Array(6).fill(-9), scale: new Array(6).fill(0.5) },
    measures: { mse: stats(2), 'patch-max': stats(3) },
    ...(semantic ? { semantic: { every: 2, weight: 0.2, loc: 0.1, scale: 0.02, measures: { mse: { ...stats(2.5), loc: 0, scale: 1 }, 'patch-max': { ...stats(3.5), loc: 0, scale: 1 } } } } : {}),
    created: '2026-12-07T00:00:00Z',
  };
  return { name: 'm', sha256: 'sha', calibration, model: spec };
}

describe('onlineScoring', () => {
  it('a calibration with text statistics: thresholds of the combined score while semantic_weight is the calibrated one', () => {
    const cfg = defaultConfig();
    assert.equal(onlineScoring(model(true), spec).params(cfg).on, 3.5);
    assert.equal(onlineScoring(model(false), spec).params(cfg).on, 3);
    // another weight: the combined thresholds do not apply, the frame score's do
    assert.equal(onlineScoring(model(true), spec).params({ ...cfg, semantic_weight: 0.5 }).on, 3);
  });

  it('its detector scores the text error against the calibrated median and scale from the first frame', () => {
    const s = onlineScoring(model(true), spec);
    const det = s.detector(s.params(defaultConfig()));
    assert.ok(Math.abs(det.push(0, new Date(0), 1, 0.14).z - (1 + 0.2 * 2)) < 1e-9);
  });

  it('threshold.confirm: off by default; auto = the calibrated score at fpr / 10, or one hysteresis step above on; a number is raised to on', () => {
    const cfg = defaultConfig();
    assert.equal(cfg.threshold.confirm, 'off');
    assert.equal(onlineScoring(model(false), spec).params(cfg).confirm, undefined);
    const auto = { ...cfg, threshold: { ...cfg.threshold, confirm: 'auto' as const } };
    assert.equal(onlineScoring(model(false), spec).params(auto).confirm, 3.5, 'patch-max table: 0.001 -> 3.5');
    assert.equal(onlineScoring(model(false), spec).params({ ...auto, measure: 'mse' }).confirm, 2.5);
    const byHand = { ...auto, threshold: { ...auto.threshold, fpr: null, on: 4, off: 2 } };
    assert.equal(onlineScoring(model(false), spec).params(byHand).confirm, 6);
    assert.equal(detectorParams(byHand).confirm, 6, 'uncalibrated: on + (on - off)');
    const low = { ...cfg, threshold: { ...cfg.threshold, confirm: 1 } };
    assert.equal(onlineScoring(model(false), spec).params(low).confirm, 3, 'below on: raised to the calibrated on');
  });
});
