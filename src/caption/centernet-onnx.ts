/**
 * Converts the COCO CenterNet TensorFlow.js graph (detector.ts) into an ONNX model, so that the
 * captioner's detector runs through ONNX Runtime (its CPU provider here, CUDA / TensorRT on a
 * Jetson) like the anomaly model, instead of through TensorFlow.js.
 *
 * Only the network is converted: image → `keypoints` (class heatmap after the sigmoid) and `wh`
 * (box edge offsets). The graph's own box decoding (top-100 of a 3x3-max-pooled heatmap, with the
 * 512x512 input size baked into its constants) is left out and done in JavaScript
 * ({@link decodeCenterNet}), which is what lets the detector run at any input size that is a
 * multiple of 32.
 *
 * Layout: TensorFlow's NHWC becomes ONNX's NCHW. Per-channel constants are reshaped to `[C, 1, 1]`,
 * channel axes are remapped, TF `SAME` padding becomes `auto_pad: SAME_UPPER` (TF pads the extra
 * pixel at the end, as SAME_UPPER does), `Relu6` becomes `Clip(0, 6)`, MobileNetV3's hard-swish
 * pattern becomes one `HardSwish`, and `ResizeBilinear`
 * (align_corners and half_pixel_centers false) becomes `Resize` with `asymmetric` coordinates.
 */
import { GraphBuilder } from '../export/builder.js';

/** A constant of the graph: shape and values (float16 weights are widened to float32). */
export interface GraphWeight {
  shape: number[];
  data: Float32Array | Int32Array;
}

/** One entry of a tfjs `weightsManifest` (the fields used here). */
interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

/** A node of a TensorFlow GraphDef in the tfjs JSON format (the fields used here). */
interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { s?: string; b?: boolean; i?: string; list?: { s?: string[]; i?: string[] } }>;
}

/** The graph values the ONNX model outputs, in order. */
export const CENTERNET_OUTPUTS = { keypoints: 'tower_0/keypoints', wh: 'tower_0/wh' } as const;

/** Input of the converted model: `[1, 3, h, w]` float32 RGB in [0, 1], any h and w (resized and
 * scaled to 0–255 inside the graph). */
export const CENTERNET_ONNX_INPUT = 'image';

/** IEEE half-precision bits to a number. */
function halfToFloat(h: number): number {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Reads the weights of a tfjs graph model: the `weightsManifest` of its JSON and the `.bin` they
 * are packed into, in manifest order. float16-quantised floats are widened to float32.
 * @throws Error naming the weight when its dtype or quantisation is not float32, int32 or float16,
 *   or when the `.bin` is shorter than the manifest says (a truncated download)
 */
export function readGraphWeights(manifest: { weights: WeightSpec[] }[], bin: Uint8Array): Map<string, GraphWeight> {
  const out = new Map<string, GraphWeight>();
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  let offset = 0;
  for (const w of manifest.flatMap((g) => g.weights)) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const q = w.quantization?.dtype;
    const bytes = n * (q === 'float16' ? 2 : 4);
    if (offset + bytes > bin.byteLength) throw new Error(`detector weights file is truncated: '${w.name}' needs bytes ${offset}–${offset + bytes}, the file has ${bin.byteLength}`);
    let data: Float32Array | Int32Array;
    if (q === 'float16') data = Float32Array.from({ length: n }, (_, i) => halfToFloat(view.getUint16(offset + 2 * i, true)));
    else if (q) throw new Error(`detector weight '${w.name}' uses ${q} quantisation, which this reader does not support`);
    else if (w.dtype === 'float32') data = Float32Array.from({ length: n }, (_, i) => view.getFloat32(offset + 4 * i, true));
    else if (w.dtype === 'int32') data = Int32Array.from({ length: n }, (_, i) => view.getInt32(offset + 4 * i, true));
    else throw new Error(`detector weight '${w.name}' has dtype ${w.dtype}, expected float32 or int32`);
    out.set(w.name, { shape: w.shape, data });
    offset += bytes;
  }
  return out;
}

const decode = (s: string): string => Buffer.from(s, 'base64').toString('utf8');
const NHWC_TO_NCHW_AXIS = [0, 2, 3, 1];

/**
 * Builds the ONNX model (opset 17) from the tfjs graph topology and its weights.
 * @param nodes the `modelTopology.node` array of `centernet.json`
 * @param weights the graph's constants ({@link readGraphWeights})
 * @param height network input height in pixels (multiple of 32; the graph was trained at 512)
 * @param width network input width in pixels (multiple of 32)
 * @returns the encoded ModelProto. Input `image` `[1, 3, h, w]` RGB in [0, 1] of any size: it is
 *   resized (bilinear, asymmetric coordinates, as tfjs `resizeBilinear` without align_corners) to
 *   `height` x `width`. Outputs `keypoints` `[1, 80, height/4, width/4]` in [0, 1] and `wh`
 *   `[1, 4, height/4, width/4]` (left, top, right, bottom distances from the cell, network pixels).
 * @throws Error naming the node when the graph holds an op this converter does not know, or a
 *   weight it needs is missing
 */
export function centerNetToOnnx(nodes: TfNode[], weights: Map<string, GraphWeight>, height: number, width: number): Uint8Array {
  if (height % 32 || width % 32) throw new RangeError(`detector input must be a multiple of 32 on each side, got ${width}x${height}`);
  const weight = (name: string): GraphWeight => {
    const w = weights.get(name.replace(/:0$/, ''));
    if (!w) throw new Error(`centernet graph: weight '${name}' is missing from centernet.bin`);
    return w;
  };
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const g = new GraphBuilder();
  const values = new Map<string, string>();
  const input = g.input({ name: CENTERNET_ONNX_INPUT, shape: [1, 3, 'height', 'width'] });
  const resized = g.op('Resize', 'images/resize', [input, '', '', g.ints([1, 3, height, width])], { mode: 'linear', coordinate_transformation_mode: 'asymmetric' });
  const placeholder = nodes.find((n) => n.op === 'Placeholder')!.name;
  values.set(placeholder, g.op('Mul', 'images/255', [resized, g.scalar(255)]));

  /** A constant as an ONNX initialiser; per-channel vectors become `[C, 1, 1]` for NCHW broadcast. */
  const constant = (name: string): string => {
    const { shape, data } = weight(name);
    const dims = shape.length === 1 && shape[0]! > 1 ? [shape[0]!, 1, 1] : shape.length === 0 ? [1] : shape;
    return g.init(name, dims, Float32Array.from(data));
  };
  /** Conv weights: TF `[kh, kw, cin, cout]` (depthwise `[kh, kw, cin, mult]`) to ONNX `[cout, cin/group, kh, kw]`. */
  const convWeight = (name: string, depthwise: boolean): { name: string; group: number; kernel: number[] } => {
    const { shape, data } = weight(name);
    const [kh, kw, cin, m] = shape as [number, number, number, number];
    // depthwise: output channel c*m + j reads input channel c; ONNX wants [cin*m, 1, kh, kw]
    const cout = depthwise ? cin * m : m;
    const cinG = depthwise ? 1 : cin;
    const out = new Float32Array(cout * cinG * kh * kw);
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let c = 0; c < cin; c++)
          for (let j = 0; j < m; j++) {
            const v = data[((y * kw + x) * cin + c) * m + j]!;
            const o = depthwise ? c * m + j : j;
            const i = depthwise ? 0 : c;
            out[((o * cinG + i) * kh + y) * kw + x] = v;
          }
    return { name: g.init(name, [cout, cinG, kh, kw], out), group: depthwise ? cin : 1, kernel: [kh, kw] };
  };

  const value = (ref: string): string => {
    const name = ref.replace(/^\^/, '').replace(/:0$/, '');
    const hit = values.get(name);
    if (hit) return hit;
    const node = byName.get(name);
    if (!node) throw new Error(`centernet graph: input '${ref}' not found`);
    const out = convert(node);
    values.set(name, out);
    return out;
  };

  /** MobileNetV3's hard-swish, `(x / 6) * relu6(x + 3)` as Mul(Mul(1/6, x), Relu6(Add(x, 3))): the
   * `x` it applies to, or null when `n` is not that pattern. One HardSwish op instead of four
   * passes over the feature map: ~10% faster here. HardSwish uses 1/6 exactly where the graph
   * stores it as float16 (0.16663), so heatmap scores move by up to ~1.5e-3 against tfjs. */
  const hardSwishInput = (n: TfNode): string | null => {
    const [a, b] = (n.input ?? []).map((r) => byName.get(r.replace(/:0$/, '')));
    if (a?.op !== 'Mul' || b?.op !== 'Relu6') return null;
    const add = byName.get(b.input![0]!);
    if (add?.op !== 'Add') return null;
    const [c, x] = a.input!;
    const scale = weights.get(c!);
    const three = weights.get(add.input![1]!);
    if (!scale || !three || x !== add.input![0] || scale.data.length !== 1 || three.data.length !== 1) return null;
    if (Math.abs(scale.data[0]! - 1 / 6) > 1e-3 || three.data[0] !== 3) return null;
    return x!;
  };

  const convert = (n: TfNode): string => {
    const ins = n.input ?? [];
    const attr = n.attr ?? {};
    switch (n.op) {
      case 'Const':
        return constant(n.name);
      case 'Identity':
        return value(ins[0]!);
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative':
      case 'DepthwiseConv2dNative':
      case 'Conv2D': {
        const depthwise = n.op.includes('Depthwise');
        const w = convWeight(ins[1]!.replace(/:0$/, ''), depthwise);
        const strides = (attr.strides?.list?.i ?? ['1', '1', '1', '1']).map(Number).slice(1, 3);
        const same = decode(attr.padding?.s ?? '') === 'SAME';
        const fused = (attr.fused_ops?.list?.s ?? []).map(decode);
        if (fused.some((f) => !['BiasAdd', 'Relu', 'Relu6'].includes(f))) throw new Error(`centernet graph: node ${n.name} fuses unsupported ops ${fused.join(',')}`);
        const b = fused.includes('BiasAdd') ? weight(ins[2]!) : null;
        const bias = b ? g.init(ins[2]!, [b.data.length], Float32Array.from(b.data)) : '';
        const conv = g.op('Conv', n.name, [value(ins[0]!), w.name, ...(bias ? [bias] : [])], {
          kernel_shape: w.kernel,
          strides,
          group: w.group,
          ...(same ? { auto_pad: 'SAME_UPPER' } : { pads: [0, 0, 0, 0] }),
        });
        if (fused.includes('Relu')) return g.op('Relu', `${n.name}/relu`, [conv]);
        if (fused.includes('Relu6')) return g.op('Clip', `${n.name}/relu6`, [conv, g.scalar(0, []), g.scalar(6, [])]);
        return conv;
      }
      case 'Mul': {
        const x = hardSwishInput(n);
        if (x) return g.op('HardSwish', n.name, [value(x)]);
        return g.op('Mul', n.name, [value(ins[0]!), value(ins[1]!)]);
      }
      case 'Add':
      case 'Sub':
        return g.op(n.op, n.name, [value(ins[0]!), value(ins[1]!)]);
      case 'Relu':
      case 'Sigmoid':
        return g.op(n.op, n.name, [value(ins[0]!)]);
      case 'Relu6':
        return g.op('Clip', n.name, [value(ins[0]!), g.scalar(0, []), g.scalar(6, [])]);
      case 'Mean': {
        const axes = Array.from(weight(ins[1]!).data).map((a) => NHWC_TO_NCHW_AXIS[a]!);
        return g.op('ReduceMean', n.name, [value(ins[0]!)], { axes, keepdims: attr.keep_dims?.b ? 1 : 0 });
      }
      case 'ConcatV2': {
        const axis = NHWC_TO_NCHW_AXIS[weight(ins[ins.length - 1]!).data[0]!]!;
        return g.op('Concat', n.name, ins.slice(0, -1).map(value), { axis });
      }
      case 'ResizeBilinear': {
        if (attr.align_corners?.b || attr.half_pixel_centers?.b) throw new Error(`centernet graph: ${n.name} uses align_corners/half_pixel_centers, not supported`);
        // every upsampling in this head doubles the feature map (the size constant is H/16 from H/32 etc.)
        const scales = g.init(`${n.name}/scales`, [4], Float32Array.from([1, 1, 2, 2]));
        return g.op('Resize', n.name, [value(ins[0]!), '', scales], { mode: 'linear', coordinate_transformation_mode: 'asymmetric' });
      }
      default:
        throw new Error(`centernet graph: op ${n.op} (node ${n.name}) is not supported by the ONNX conversion`);
    }
  };

  const kp = value(CENTERNET_OUTPUTS.keypoints);
  const wh = value(CENTERNET_OUTPUTS.wh);
  g.output(kp, { name: 'keypoints', shape: [1, 80, height / 4, width / 4] });
  g.output(wh, { name: 'wh', shape: [1, 4, height / 4, width / 4] });
  // The peaks, picked inside the graph as decodeCenterNet does: a cell that equals the max of its
  // 3x3 neighbourhood (same class) keeps its score, any other gets -1; the K best of all classes
  // and cells, with their box offsets. The caption worker fetches only these (a few KB) instead of
  // the 5.5 MB heatmap, which it would copy into a fresh ArrayBuffer on every call.
  const hw = (height / 4) * (width / 4);
  const k = Math.min(CENTERNET_PEAKS, 80 * hw);
  const pooled = g.op('MaxPool', 'peaks/pool', [kp], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
  const only = g.op('Where', 'peaks/only', [g.op('Equal', 'peaks/is_max', [kp, pooled]), kp, g.scalar(-1)]);
  const [scores, index] = g.node('TopK', 'peaks/top', [g.op('Reshape', 'peaks/flat', [only, g.ints([1, -1])]), g.ints([k])], { axis: -1, largest: 1, sorted: 1 }, 2) as [string, string];
  const cell = g.op('Reshape', 'peaks/cell', [g.op('Mod', 'peaks/mod', [index, g.ints([hw])]), g.ints([-1])]);
  g.output(scores, { name: 'peak_scores', shape: [1, k] });
  g.output(index, { name: 'peak_index', shape: [1, k], elemType: 7 });
  g.output(g.op('Gather', 'peaks/wh', [g.op('Reshape', 'peaks/wh_flat', [wh, g.ints([1, 4, hw])]), cell], { axis: 2 }), { name: 'peak_wh', shape: [1, 4, k] });
  return g.build({ graphName: 'centernet', opset: 17, irVersion: 8, producer: 'sfn-edge', producerVersion: '0', doc: 'COCO CenterNet (MobileNetV3) from @vladmandic/human, converted by sfn-edge' });
}

/** Peaks the converted graph picks (outputs `peak_scores`, `peak_index`, `peak_wh`). */
export const CENTERNET_PEAKS = 100;

/** The graph outputs {@link decodePeaks} reads: a few KB per call. */
export const CENTERNET_PEAK_OUTPUTS = ['peak_scores', 'peak_index', 'peak_wh'] as const;

/**
 * Boxes from the graph's own peak picking, the same as {@link decodeCenterNet} on the full outputs
 * (the same peaks, scores at least `minScore`, best first, ties in class-row-column order).
 * @param scores `[K]` peak scores (-1 for cells that are not peaks), best first
 * @param index `[K]` flat indices `class * h * w + y * w + x` into the heatmap
 * @param wh `[4, K]` box offsets (left, top, right, bottom) at those cells
 * @param w heatmap width (input width / 4)
 * @param h heatmap height
 */
export function decodePeaks(scores: Float32Array, index: BigInt64Array, wh: Float32Array, h: number, w: number, minScore: number): RawDetection[] {
  const K = scores.length;
  const hw = h * w;
  const out: RawDetection[] = [];
  for (let i = 0; i < K; i++) {
    const v = scores[i]!;
    if (v < minScore || v < 0) continue;
    const flat = Number(index[i]!);
    const o = flat % hw;
    const x = o % w;
    const y = (o - x) / w;
    out.push({ cls: Math.floor(flat / hw), score: v, x1: 4 * x - wh[i]!, y1: 4 * y - wh[K + i]!, x2: 4 * x + wh[2 * K + i]!, y2: 4 * y + wh[3 * K + i]! });
  }
  return out;
}

/** One decoded box before non-maximum suppression: class index, score, corners in input pixels. */
export interface RawDetection {
  cls: number;
  score: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/**
 * Decodes CenterNet outputs into boxes, as the original graph does: a heatmap cell is a peak when it
 * equals the max of its 3x3 neighbourhood (same class); the `topK` highest peaks with a score of at
 * least `minScore` become boxes `(4x − left, 4y − top, 4x + right, 4y + bottom)` in input pixels
 * (stride 4). Follows the tail of `centernet.json` (MaxPool → Equal → TopKV2 → BatchGather).
 * @param keypoints `[80, h, w]` float32 (NCHW without the batch), scores in [0, 1]
 * @param wh `[4, h, w]` float32
 */
export function decodeCenterNet(keypoints: Float32Array, wh: Float32Array, h: number, w: number, minScore: number, topK = 100): RawDetection[] {
  const classes = keypoints.length / (h * w);
  const peaks: RawDetection[] = [];
  for (let c = 0; c < classes; c++) {
    const base = c * h * w;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v = keypoints[base + y * w + x]!;
        if (v < minScore) continue;
        let peak = true;
        for (let dy = -1; dy <= 1 && peak; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy >= 0 && xx >= 0 && yy < h && xx < w && keypoints[base + yy * w + xx]! > v) {
              peak = false;
              break;
            }
          }
        if (!peak) continue;
        const o = y * w + x;
        const hw = h * w;
        peaks.push({ cls: c, score: v, x1: 4 * x - wh[o]!, y1: 4 * y - wh[hw + o]!, x2: 4 * x + wh[2 * hw + o]!, y2: 4 * y + wh[3 * hw + o]! });
      }
  }
  peaks.sort((a, b) => b.score - a.score);
  return peaks.slice(0, topK);
}

/**
 * Greedy class-agnostic non-maximum suppression: keeps boxes in score order, dropping any whose IoU
 * with a kept box is `iou` or more (as tfjs `image.nonMaxSuppression`).
 * @param dets sorted by score, highest first
 */
export function nonMaxSuppression(dets: RawDetection[], iou: number, max: number): RawDetection[] {
  const kept: RawDetection[] = [];
  const area = (d: RawDetection): number => Math.max(0, d.x2 - d.x1) * Math.max(0, d.y2 - d.y1);
  for (const d of dets) {
    if (kept.length >= max) break;
    const overlaps = kept.some((k) => {
      const iw = Math.min(k.x2, d.x2) - Math.max(k.x1, d.x1);
      const ih = Math.min(k.y2, d.y2) - Math.max(k.y1, d.y1);
      if (iw <= 0 || ih <= 0) return false;
      const inter = iw * ih;
      return inter / (area(k) + area(d) - inter) >= iou;
    });
    if (!overlaps) kept.push(d);
  }
  return kept;
}
