/**
 * A small static HTML report of an evaluation: summary tables, the micro ROC curve and one score
 * timeline per video, drawn as SVG and rendered to PNG with sharp (librsvg).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import sharp from 'sharp';

import { rocCurve } from '../scoring/auc.js';
import { ERROR_MEASURES } from '../scoring/error.js';
import type { EvaluationResult } from './evaluate.js';
import type { OnlineResult, OnlineVideo } from './online.js';

const FONT = 'DejaVu Sans, Arial, Helvetica, sans-serif';

function esc(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

function fmt(x: number | null, digits = 4): string {
  return x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

/** Safe file-name part from a video name. */
function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]+/g, '_');
}

/**
 * SVG of a ROC curve (FPR on x, TPR on y), `size`×`size` px, with the chance diagonal.
 * @param fpr, tpr the curve points (from `rocCurve`), same length, in [0, 1].
 * @param title text drawn above the plot.
 */
export function rocSvg(fpr: readonly number[], tpr: readonly number[], title: string, size = 480): string {
  const m = { l: 56, r: 16, t: 36, b: 48 };
  const pw = size - m.l - m.r;
  const ph = size - m.t - m.b;
  const X = (v: number) => (m.l + v * pw).toFixed(2);
  const Y = (v: number) => (m.t + (1 - v) * ph).toFixed(2);
  const pts = fpr.map((f, i) => `${X(f)},${Y(tpr[i] ?? 0)}`).join(' ');
  const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1];
  const grid = ticks
    .map(
      (t) =>
        `<line x1="${X(t)}" y1="${Y(0)}" x2="${X(t)}" y2="${Y(1)}" stroke="#e5e5e5"/>` +
        `<line x1="${X(0)}" y1="${Y(t)}" x2="${X(1)}" y2="${Y(t)}" stroke="#e5e5e5"/>` +
        `<text x="${X(t)}" y="${m.t + ph + 16}" font-size="11" text-anchor="middle">${t}</text>` +
        `<text x="${m.l - 6}" y="${Number(Y(t)) + 4}" font-size="11" text-anchor="end">${t}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" font-family="${FONT}">
<rect width="100%" height="100%" fill="white"/>
${grid}
<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>
<line x1="${X(0)}" y1="${Y(0)}" x2="${X(1)}" y2="${Y(1)}" stroke="#999" stroke-dasharray="4 4"/>
<polyline points="${pts}" fill="none" stroke="#1f5fbf" stroke-width="2"/>
<text x="${size / 2}" y="22" font-size="14" text-anchor="middle">${esc(title)}</text>
<text x="${m.l + pw / 2}" y="${size - 10}" font-size="12" text-anchor="middle">false-positive rate</text>
<text x="14" y="${m.t + ph / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${m.t + ph / 2})">true-positive rate</text>
</svg>`;
}

/**
 * SVG of one video's score timeline: the score per frame as a line, frames labelled anomalous
 * shaded red behind it.
 * @param scores per scored frame, nominally in [0, 1] (the y axis is fixed to [0, 1]).
 * @param labels 0/1 per scored frame, same length.
 * @param firstFrame frame index (0-based) of `scores[0]`, for the x axis (the protocol's `drop`).
 */
export function timelineSvg(
  scores: readonly number[],
  labels: readonly number[],
  firstFrame: number,
  title: string,
  width = 800,
  height = 200,
): string {
  const m = { l: 44, r: 12, t: 28, b: 36 };
  const pw = width - m.l - m.r;
  const ph = height - m.t - m.b;
  const n = scores.length;
  const step = n > 1 ? pw / (n - 1) : 0;
  const X = (i: number) => m.l + i * step;
  const Y = (v: number) => m.t + (1 - Math.min(1, Math.max(0, v))) * ph;
  // Shade each run of anomalous frames; each frame covers ±half a step around its x.
  let shade = '';
  for (let i = 0; i < n; ) {
    if (labels[i] !== 1) {
      i++;
      continue;
    }
    let j = i;
    while (j < n && labels[j] === 1) j++;
    const x0 = Math.max(m.l, X(i) - step / 2);
    const x1 = Math.min(m.l + pw, X(j - 1) + step / 2);
    shade += `<rect x="${x0.toFixed(2)}" y="${m.t}" width="${Math.max(1, x1 - x0).toFixed(2)}" height="${ph}" fill="#f4b6b6"/>`;
    i = j;
  }
  const pts = scores.map((s, i) => `${X(i).toFixed(2)},${Y(s).toFixed(2)}`).join(' ');
  const ticksX: string[] = [];
  const tickEvery = n > 120 ? 20 : 10;
  for (let i = 0; i < n; i++) {
    const f = firstFrame + i;
    if (f % tickEvery === 0) {
      ticksX.push(
        `<line x1="${X(i).toFixed(2)}" y1="${m.t + ph}" x2="${X(i).toFixed(2)}" y2="${m.t + ph + 4}" stroke="#333"/>` +
          `<text x="${X(i).toFixed(2)}" y="${m.t + ph + 16}" font-size="10" text-anchor="middle">${f}</text>`,
      );
    }
  }
  const ticksY = [0, 0.5, 1]
    .map(
      (t) =>
        `<line x1="${m.l}" y1="${Y(t)}" x2="${m.l + pw}" y2="${Y(t)}" stroke="#e5e5e5"/>` +
        `<text x="${m.l - 6}" y="${Y(t) + 4}" font-size="10" text-anchor="end">${t}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT}">
<rect width="100%" height="100%" fill="white"/>
${shade}
${ticksY}
<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>
<polyline points="${pts}" fill="none" stroke="#1f5fbf" stroke-width="1.5"/>
${ticksX.join('')}
<text x="${m.l}" y="18" font-size="13">${esc(title)}</text>
<text x="${m.l + pw}" y="18" font-size="11" text-anchor="end" fill="#b03030">shaded = labelled anomalous</text>
<text x="${m.l + pw / 2}" y="${height - 4}" font-size="11" text-anchor="middle">frame</text>
</svg>`;
}

/**
 * SVG of one video's online score (what `run` computes, eval/online.ts): the smoothed score per
 * scored frame, the `on` (solid) and `off` (dashed) thresholds, event spans as bars (a tick where
 * `new` was emitted), labelled-anomalous frames shaded. The y axis spans the score's range and
 * both thresholds.
 */
export function onlineTimelineSvg(v: OnlineVideo, on: number, off: number, title: string, width = 800, height = 220): string {
  const m = { l: 44, r: 12, t: 28, b: 46 };
  const pw = width - m.l - m.r;
  const ph = height - m.t - m.b;
  const n = Math.max(1, v.labels.length);
  const X = (f: number) => m.l + ((f + 0.5) / n) * pw;
  const lo = Math.min(0, off, ...v.scores);
  const hi = Math.max(on * 1.25, ...v.scores);
  const Y = (s: number) => m.t + (1 - (s - lo) / (hi - lo || 1)) * ph;
  let shade = '';
  v.labels.forEach((l, f) => {
    if (l === 1) shade += `<rect x="${(m.l + (f / n) * pw).toFixed(2)}" y="${m.t}" width="${(pw / n + 0.3).toFixed(2)}" height="${ph}" fill="#f4b6b6"/>`;
  });
  const pts = v.frames.map((f, i) => `${X(f).toFixed(2)},${Y(v.scores[i]!).toFixed(2)}`).join(' ');
  const yb = m.t + ph + 6;
  const bars = v.events
    .map(
      (e) =>
        `<rect x="${X(e.start).toFixed(2)}" y="${yb}" width="${Math.max(1, X(e.end) - X(e.start)).toFixed(2)}" height="6" fill="#2a8a2a"/>` +
        `<line x1="${X(e.new_at).toFixed(2)}" y1="${yb - 3}" x2="${X(e.new_at).toFixed(2)}" y2="${yb + 9}" stroke="#114411" stroke-width="2"/>`,
    )
    .join('');
  const ticks: string[] = [];
  for (let f = 0; f < n; f += n > 120 ? 20 : 10)
    ticks.push(`<text x="${X(f).toFixed(2)}" y="${m.t + ph + 28}" font-size="10" text-anchor="middle">${f}</text>`);
  const hline = (y: number, dash: string, label: string) =>
    `<line x1="${m.l}" y1="${Y(y).toFixed(2)}" x2="${m.l + pw}" y2="${Y(y).toFixed(2)}" stroke="#d08000" ${dash}/>` +
    `<text x="${m.l - 6}" y="${(Y(y) + 4).toFixed(2)}" font-size="10" text-anchor="end">${label}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT}">
<rect width="100%" height="100%" fill="white"/>
${shade}
${hline(on, '', `on ${on}`)}${hline(off, 'stroke-dasharray="4 3"', `off ${off}`)}
<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>
<polyline points="${pts}" fill="none" stroke="#1f5fbf" stroke-width="1.5"/>
${bars}
${ticks.join('')}
<text x="${m.l}" y="18" font-size="13">${esc(title)}</text>
<text x="${m.l + pw}" y="18" font-size="11" text-anchor="end" fill="#b03030">shaded = labelled anomalous · green = events (tick: new)</text>
<text x="${m.l + pw / 2}" y="${height - 4}" font-size="11" text-anchor="middle">frame</text>
</svg>`;
}

/** The online summary table of the report. */
function onlineSection(o: OnlineResult): string {
  const s = o.summary;
  const row = (k: string, v: string) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`;
  return `<h2>Online (what run emits)</h2><table>
${row('scoring', `${s.calibrated ? 'calibrated on normal video' : 'running baseline (no calibration)'}, ${s.measure}, on ${s.threshold.on}, off ${s.threshold.off}, min ${s.threshold.min_frames} frames${s.threshold.confirm !== null ? ` (at once from ${s.threshold.confirm})` : ''}, sigma ${s.threshold.sigma}`)}
${row('online micro AUC', fmt(s.micro_auc))}
${row('segments detected', `${s.detected} of ${s.segments}`)}
${row('latency p50 / p90 (frames)', `${s.latency_frames_p50 ?? '–'} / ${s.latency_frames_p90 ?? '–'}`)}
${row('anomalous frames inside events', `${(100 * s.anomalous_frames_in_events).toFixed(1)}%`)}
${row('false events per hour (check part of normal video)', `${s.false_events_per_hour ?? '–'} (${s.false_events_check ?? '–'} in ${s.check_frames ?? '–'} frames; 95 % upper bound ${s.false_events_per_hour_upper95 ?? '–'})`)}
${row('events on test frames with no anomaly', String(s.false_events_test))}
</table>`;
}

/** Renders an SVG string to a PNG file with sharp. */
async function svgToPng(svg: string, file: string): Promise<void> {
  await sharp(Buffer.from(svg)).png().toFile(file);
}

/** Files written by {@link writeReport}, absolute or relative as `dir` was given. */
export interface ReportFiles {
  html: string;
  roc: string;
  timelines: string[];
}

/**
 * Writes a static report of an evaluation into `dir` (created if missing; existing files with
 * the same names are overwritten):
 * - `index.html`: summary (predictor, grid, sigma, AUCs of both measures, speed), per-video AUCs,
 *   and the images below, referenced by relative path;
 * - `roc.png`: micro ROC curve of the headline measure (from `result.scores` / `result.labels`);
 * - `timeline-<video>.png`: per video, the normalised + smoothed score over frames with
 *   labelled-anomalous frames shaded.
 *
 * @param result output of `evaluateDataset` (uses scores, labels, per_video offsets).
 * @param dir output folder.
 * @returns paths of the written files.
 * @throws Error if the folder cannot be written or the result's scores and labels are unusable
 *   (e.g. a single class: no ROC curve).
 */
export async function writeReport(result: EvaluationResult, dir: string, online?: OnlineResult): Promise<ReportFiles> {
  await mkdir(dir, { recursive: true });
  const roc = rocCurve(result.scores, result.labels);
  const rocFile = join(dir, 'roc.png');
  await svgToPng(
    rocSvg(roc.fpr, roc.tpr, `${result.predictor} · ${result.measure} · micro AUC ${fmt(result.micro_auc)}`),
    rocFile,
  );
  const timelines: string[] = [];
  const rows: string[] = [];
  const figs: string[] = [];
  for (const v of result.per_video) {
    const s = result.scores.slice(v.offset, v.offset + v.frames);
    const l = result.labels.slice(v.offset, v.offset + v.frames);
    const fileName = `timeline-${slug(v.name)}.png`;
    const file = join(dir, fileName);
    await svgToPng(timelineSvg(s, l, result.drop, `video ${v.name} · AUC ${fmt(v.auc)}`), file);
    timelines.push(file);
    const anomalous = l.reduce((a, b) => a + b, 0);
    const other = ERROR_MEASURES.map((m) => {
      const pv = result.measures[m].per_video.find((x) => x.name === v.name);
      return `<td>${fmt(pv?.auc ?? null)}</td>`;
    }).join('');
    rows.push(`<tr><td>${esc(v.name)}</td><td>${v.frames}</td><td>${anomalous}</td>${other}</tr>`);
    figs.push(`<figure><img src="${esc(fileName)}" alt="score timeline of video ${esc(v.name)}"></figure>`);
    const ov = online?.videos.find((x) => x.video === v.name);
    if (online && ov) {
      const th = online.summary.threshold;
      const oName = `online-${slug(v.name)}.png`;
      const lat = ov.segments.map((g) => (g.latency === null ? 'missed' : `${g.latency} frames`)).join(', ');
      await svgToPng(onlineTimelineSvg(ov, th.on, th.off, `video ${v.name} · online (run) · ${ov.events.length} events · latency ${lat}`), join(dir, oName));
      timelines.push(join(dir, oName));
      figs.push(`<figure><img src="${esc(oName)}" alt="online score of video ${esc(v.name)}"></figure>`);
    }
  }
  const measureRows = ERROR_MEASURES.map((m) => {
    const r = result.measures[m];
    const mark = m === result.measure ? ' (headline)' : '';
    return `<tr><td>${m}${mark}</td><td>${fmt(r.micro_auc)}</td><td>${fmt(r.macro_auc)}</td></tr>`;
  }).join('');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>sfn-edge evaluation: ${esc(result.predictor)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%}figure{margin:0.5em 0}
.note{color:#555;font-size:0.9em}
</style></head><body>
<h1>Evaluation: ${esc(result.predictor)}</h1>
<table>
<tr><td>dataset</td><td>${esc(result.dataset)}</td></tr>
<tr><td>grid</td><td>${result.spec.width}x${result.spec.height} ${esc(result.spec.color)}</td></tr>
<tr><td>scored frames</td><td>${result.frames} (first ${result.drop} of each video dropped)</td></tr>
<tr><td>Gaussian sigma</td><td>${result.sigma} frames</td></tr>
<tr><td>patch-max window</td><td>${result.patch} px, stride ${result.stride} px</td></tr>
<tr><td>wall time</td><td>${result.seconds.toFixed(1)} s (${result.fps.toFixed(1)} frames/s)</td></tr>
</table>
<h2>Frame-level ROC AUC</h2>
<table><tr><th>error measure</th><th>micro AUC</th><th>macro AUC</th></tr>${measureRows}</table>
<p class="note">Protocol: per-frame error → min-max within each video → Gaussian smoothing along time →
micro AUC over all videos concatenated; macro AUC = mean per-video AUC over videos containing both classes.</p>
<img src="roc.png" alt="micro ROC curve">
<h2>Per video</h2>
<table><tr><th>video</th><th>frames</th><th>anomalous</th>${ERROR_MEASURES.map((m) => `<th>AUC ${m}</th>`).join('')}</tr>
${rows.join('\n')}</table>
${online ? onlineSection(online) : ''}
<p class="note">Timelines show the ${esc(result.measure)} score (normalised and smoothed); shaded frames are labelled anomalous.${online ? ' Below each, the online score run computes, its thresholds and its events.' : ''}</p>
${figs.join('\n')}
</body></html>
`;
  const htmlFile = join(dir, 'index.html');
  await writeFile(htmlFile, html, 'utf8');
  return { html: htmlFile, roc: rocFile, timelines };
}
