/**
 * The cameras of one `run` (core/runtime-config.ts `cameras`; mqtt/topics.ts "Cameras"): a plan per
 * camera (its configuration controller over the device-wide values, its folders, its topics), and
 * the rules that keep one camera's failure from stopping the others.
 *
 * - `--source` alone, no `cameras`: one camera `cam0` on the device's own topics, the device's
 *   configuration controller, `--clips` and `--state-dir` as they are (today's layout). With
 *   `--camera-id <id>` the one camera moves to `sfn/<device>/<id>/`.
 * - a `cameras` list: one camera per entry, each with its own topics, clips folder
 *   `<clips>/<id>/`, state folder `<state-dir>/cameras/<id>/` (its `config/set` layer, its learn
 *   runs) and controller. A device-wide `config/set` (not `source`, `model` or `cameras`) applies
 *   to every camera that does not set the key itself.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cameraConfig, CameraSchema, type CameraConfig, type RuntimeConfig } from '../core/runtime-config.js';
import type { ReportChannel } from '../mqtt/scope.js';
import { log } from '../util/log.js';
import { ConfigController } from './controller.js';

/** One camera to run. */
export interface CameraPlan {
  id: string;
  /** on `sfn/<device>/<id>/` (false: the device's own topics) */
  scoped: boolean;
  /** the camera's configuration (the device's controller when not scoped) */
  controller: ConfigController;
  /** the source when its configuration names none */
  source: string;
  clipsDir: string;
  stateDir: string;
}

/** Id of the one camera of `--source` alone. */
export const DEFAULT_CAMERA_ID = 'cam0';

/** What {@link cameraPlans} reads. */
export interface PlanInputs {
  /** `--source` (required without a `cameras` list) */
  source?: string;
  /** `--camera-id`: the one camera of `--source` on its own topics */
  cameraId?: string;
  device: ConfigController;
  clipsDir: string;
  stateDir: string;
}

/**
 * The cameras of the run (see the file comment).
 * @throws Error when there is neither `--source` nor a `cameras` list, when both are given, or a
 *   camera's merged values are invalid.
 */
export async function cameraPlans(o: PlanInputs): Promise<CameraPlan[]> {
  const list = o.device.current.cameras;
  if (!list) {
    if (o.source === undefined) throw new Error('run: give --source <src>, or a `cameras` list in the --config file');
    const checked = o.cameraId === undefined ? null : CameraSchema.shape.id.safeParse(o.cameraId);
    if (checked && !checked.success) throw new Error(`--camera-id ${o.cameraId}: ${checked.error.issues.map((i) => i.message).join('; ')}`);
    const id = o.cameraId ?? DEFAULT_CAMERA_ID;
    return [{ id, scoped: o.cameraId !== undefined, controller: o.device, source: o.source, clipsDir: o.clipsDir, stateDir: o.stateDir }];
  }
  if (o.source !== undefined) throw new Error('run: --source and a `cameras` list in the --config file are exclusive; put the source in the list');
  const plans: CameraPlan[] = [];
  for (const cam of list) {
    const stateDir = join(o.stateDir, 'cameras', cam.id);
    await mkdir(stateDir, { recursive: true });
    const { controller, warning } = await ConfigController.over(cameraConfig(o.device.current, cam), join(stateDir, 'remote-config.json'));
    if (warning) log.warn({ camera: cam.id }, warning);
    plans.push({ id: cam.id, scoped: true, controller, source: cam.source, clipsDir: join(o.clipsDir, cam.id), stateDir });
  }
  return plans;
}

/**
 * Device-wide `config/set` with cameras: `source` and `model` are refused (they are a camera's),
 * and an applied change reaches each camera as its new base (its own values and its remote layer
 * stay over it); `publish(id)` republishes the camera's `config/state`.
 */
export function followDevice(device: ConfigController, plans: readonly CameraPlan[], publish: (id: string) => void): void {
  const entries = new Map<string, CameraConfig>((device.current.cameras ?? []).map((c) => [c.id, c]));
  device.onValidate(async (next, prev) => {
    if (next.source !== prev.source) throw new Error('source: a camera\'s; set it on sfn/<device>/<camera>/config/set');
    if (next.model !== prev.model) throw new Error('model: a camera\'s; set it on sfn/<device>/<camera>/config/set');
    for (const p of plans) {
      const e = entries.get(p.id);
      if (e) cameraConfig(next, e); // throws `cameras.<id>: ...` when the change does not fit a camera
    }
  });
  device.onChange((c: RuntimeConfig) => {
    for (const p of plans) {
      const e = entries.get(p.id);
      if (!e) continue;
      const why = p.controller.rebase(cameraConfig(c, e));
      if (why) log.warn({ camera: p.id, why }, 'the camera\'s config/set layer does not fit the new device-wide values; it is set aside');
      publish(p.id);
    }
  });
}

/** A camera that could not start, and why. */
export interface FailedCamera {
  id: string;
  error: string;
}

/** Says on the camera's topics that it failed: retained `availability` offline (scope.ts) and `source/state` down with the reason. */
export async function reportFailed(ch: ReportChannel & { setAvailable?: (on: boolean) => Promise<void> }, f: FailedCamera, source: string): Promise<void> {
  await ch.setAvailable?.(false).catch(() => undefined);
  await ch.publishJson('source/state', { state: 'down', since: new Date().toISOString(), reason: `the camera did not start: ${f.error}`, source }, { qos: 1, retain: true }).catch(() => undefined);
}
