/**
 * SFN-Lite hyper-parameters: one zod schema gives the defaults, the bounds, the TypeScript type
 * and (later) the JSON Schema. Expert count, top-k and bottleneck width are configuration, not
 * constants (issue 2).
 */
import { z } from 'zod';
import { COLOR_MODES } from './frame.js';

export const SfnConfigSchema = z
  .object({
    height: z.number().int().min(16).max(1080).default(96).describe('model grid height H in pixels'),
    width: z.number().int().min(16).max(1920).default(144).describe('model grid width W in pixels'),
    color: z.enum(COLOR_MODES).default('gray').describe('frame colour mode (C = 1 or 3)'),
    patch: z.number().int().min(2).max(64).default(8).describe('patch size P (pixels); H and W must be multiples'),
    pastFrames: z.literal(4).default(4).describe('past frames per clip (the method uses 4)'),
    dim: z.number().int().min(8).max(1024).default(96).describe('token width D'),
    blocks: z.number().int().min(1).max(16).default(3).describe('decoder blocks, each followed by an SFFM layer'),
    heads: z.number().int().min(1).max(16).default(2).describe('attention heads (D must be a multiple)'),
    mlpRatio: z.number().int().min(1).max(8).default(2).describe('hidden width of the block MLP, in multiples of D'),
    experts: z.number().int().min(1).max(256).default(16).describe('routed experts E per SFFM layer'),
    topK: z.number().int().min(1).max(64).default(4).describe('experts chosen per token (k <= E)'),
    expertDim: z.number().int().min(1).max(1024).default(8).describe('bottleneck width d of each expert (d << D)'),
    sharedExperts: z.number().int().min(0).max(1).default(1).describe('shared (always-on) experts: 0 or 1'),
    gateScale: z.number().positive().default(2.0).describe('scale of the renormalised top-k gate weights (paper: 2.0)'),
    auxAlpha: z.number().min(0).default(0.001).describe('weight of the sequence-level load-balancing loss (paper: 0.001)'),
    sffmResidual: z.boolean().default(false).describe('residual around each SFFM layer (the paper has none)'),
    textDim: z.number().int().min(0).default(0).describe('text-embedding width for the semantic token; 0 = no semantic branch'),
    textAttention: z
      .enum(['joint', 'read'])
      .default('joint')
      .describe("semantic branch: 'joint' = the text token attends and is attended to (the paper's joint modelling); 'read' = it reads the visual and motion tokens but the visual tokens do not attend to it, so the frame path is the frame-only network's"),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.height % c.patch !== 0 || c.width % c.patch !== 0)
      ctx.addIssue({ code: 'custom', message: `height ${c.height} and width ${c.width} must be multiples of patch ${c.patch}` });
    if (c.dim % c.heads !== 0) ctx.addIssue({ code: 'custom', message: `dim ${c.dim} must be a multiple of heads ${c.heads}` });
    if (c.topK > c.experts) ctx.addIssue({ code: 'custom', message: `topK ${c.topK} must be <= experts ${c.experts}` });
  });

export type SfnConfig = z.infer<typeof SfnConfigSchema>;

/** Parses a partial config, filling defaults. Throws a ZodError listing every bad field. */
export function makeConfig(partial: Partial<SfnConfig> = {}): SfnConfig {
  return SfnConfigSchema.parse(partial);
}

/** Derived sizes: channels C, token grid (Hp x Wp), token count N, patch vector lengths. */
export function derived(c: SfnConfig) {
  const channels = c.color === 'gray' ? 1 : 3;
  const hp = c.height / c.patch;
  const wp = c.width / c.patch;
  const pp = c.patch * c.patch * channels;
  return {
    channels,
    hp,
    wp,
    tokens: hp * wp,
    /** length of one appearance token: 4 frames x C x P x P */
    appearanceLen: c.pastFrames * pp,
    /** length of one motion token: 3 differences x C x P x P */
    motionLen: (c.pastFrames - 1) * pp,
    /** length of one output token: C x P x P */
    outLen: pp,
  };
}
