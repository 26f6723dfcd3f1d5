/**
 * The 80 COCO object classes, in the order of the CenterNet detector's class index (index 0 =
 * person). The list is the standard COCO 2017 detection label set (Lin et al., "Microsoft COCO:
 * Common Objects in Context", ECCV 2014).
 */
export const COCO_LABELS = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
  'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
  'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
  'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
  'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
] as const;

export type CocoLabel = (typeof COCO_LABELS)[number];

/** Coarse groups used for motion features of the text embedding (see `embed.ts`). */
export const COARSE_GROUPS = ['person', 'rider', 'vehicle', 'other'] as const;
export type CoarseGroup = (typeof COARSE_GROUPS)[number];

const RIDER = new Set<string>(['bicycle', 'motorcycle', 'skateboard', 'skis', 'snowboard', 'surfboard']);
const VEHICLE = new Set<string>(['car', 'bus', 'truck', 'train', 'airplane', 'boat']);

/** The coarse group of a COCO label: person, rider (two-wheelers and boards), vehicle, other. */
export function coarseGroup(label: string): CoarseGroup {
  if (label === 'person') return 'person';
  if (RIDER.has(label)) return 'rider';
  if (VEHICLE.has(label)) return 'vehicle';
  return 'other';
}
