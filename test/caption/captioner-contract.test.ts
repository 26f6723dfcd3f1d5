/**
 * Every captioner runs the shared contract (captioner-contract.ts): the detector captioner in
 * process, the same in a worker thread (what `run` uses), and the VLM captioner when a local model
 * folder is configured (SFN_VLM_DIR; none is shipped, so it is skipped here, with the reason).
 */
import { before, describe } from 'node:test';

import { DetectorCaptioner } from '../../src/caption/captioner.js';
import { CAPTION_SPEC } from '../../src/caption/dataset.js';
import { VlmCaptioner } from '../../src/caption/vlm.js';
import { CaptionWorker } from '../../src/caption/worker.js';
import { readAllFrames } from '../../src/video/open.js';
import { captionerContract, type ContractFrames } from './captioner-contract.js';

const PED2_01 = '../shared/datasets/ucsd_ped2/testing/frames/01';
let f: ContractFrames;
before(async () => {
  const [prev, frame] = (await readAllFrames(PED2_01, CAPTION_SPEC)).slice(119, 121);
  f = { frame: frame!, prev: prev!, width: CAPTION_SPEC.width, height: CAPTION_SPEC.height };
});

describe('captioner contract: detector', () => captionerContract('detector', () => DetectorCaptioner.create(), () => f));
describe('captioner contract: detector in a worker thread', () => captionerContract('worker:detector', () => CaptionWorker.start(), () => f));
const vlm = process.env.SFN_VLM_DIR;
describe('captioner contract: vlm', { skip: vlm ? false : 'no local VLM model folder (set SFN_VLM_DIR to run it)' }, () =>
  captionerContract('vlm', () => VlmCaptioner.create(vlm), () => f));
