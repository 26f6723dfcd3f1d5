/** Precisions of model variants (folders under models/, the manifest's `precision`). */
export const PRECISIONS = ['fp32', 'fp16', 'int8'] as const;
/** One of {@link PRECISIONS}. */
export type Precision = (typeof PRECISIONS)[number];
