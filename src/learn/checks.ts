/**
 * The checks a learnt model must pass before `learn` calls it done and before a running device
 * swaps it in: its parity check from export/optimize passed, and its calibration on held-back
 * normal video is present, fits the model's grid and is sane (finite statistics, enough frames, a
 * threshold above the normal median).
 */
import { readManifest, type Manifest } from '../core/manifest.js';
import { calibrationOf, MIN_CALIBRATION_FRAMES } from '../scoring/calibration.js';

/** The problems of one manifest (empty = passes). Pure: reads nothing. */
export function manifestProblems(m: Manifest): string[] {
  const out: string[] = [];
  const p = m.parity;
  const measured = m.precision === 'fp32' ? p.max_abs_diff : (typeof p.relative_rms === 'number' ? p.relative_rms : Number.NaN);
  if (!(measured <= p.tolerance))
    out.push(`parity: ${m.precision === 'fp32' ? 'max |onnx - tfjs|' : 'relative rms vs fp32'} = ${measured} is not within ${p.tolerance}`);
  if (!m.calibration) {
    out.push('calibration: missing (the manifest has no error statistics from normal video)');
    return out;
  }
  const c = calibrationOf(m);
  if (!c) {
    out.push(`calibration: its ${m.calibration.patch.rows}x${m.calibration.patch.cols} window grid does not fit the ${m.model.width}x${m.model.height} model grid`);
    return out;
  }
  if (c.frames < MIN_CALIBRATION_FRAMES) out.push(`calibration: ${c.frames} frames, fewer than ${MIN_CALIBRATION_FRAMES}`);
  const bad = [...c.patch.loc, ...c.patch.scale].filter((v) => !Number.isFinite(v)).length;
  if (bad > 0) out.push(`calibration: ${bad} window statistics are not finite`);
  for (const [name, s] of Object.entries(c.measures)) {
    if (![s.loc, s.scale, s.on_at_fpr, s.max].every(Number.isFinite) || !(s.scale > 0)) out.push(`calibration: ${name} statistics are not finite (loc ${s.loc}, scale ${s.scale}, on ${s.on_at_fpr})`);
    else if (!(s.on_at_fpr > 0)) out.push(`calibration: ${name} threshold at fpr ${c.fpr} is ${s.on_at_fpr}, not above the normal median`);
  }
  return out;
}

/**
 * Reads `modelFile`'s manifest (sha256 checked against the model) and returns its problems.
 * @returns `[]` when the model passes; an unreadable or mismatched manifest is one problem.
 */
export async function modelProblems(modelFile: string): Promise<string[]> {
  let m: Manifest;
  try {
    m = (await readManifest(modelFile)).manifest;
  } catch (err) {
    return [`manifest: ${(err as Error).message.split('\n')[0]}`];
  }
  return manifestProblems(m);
}
