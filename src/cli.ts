/**
 * The `sfn-edge` command line: wires the parts into verbs (commander).
 *   train   learn "normal" from a folder of normal videos (TensorFlow.js)
 *   export  trained weights -> ONNX (opset 17) + manifest, parity-checked
 *   eval    frame-level micro/macro AUC on a labelled data set (UCSD Ped2 layout)
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { registerFlash } from './flash/command.js';
import { configureLog, log, LOG_FORMATS, LOG_LEVELS } from './util/log.js';
import { versionText } from './util/version.js';

function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got '${v}'`);
    return n;
  };
}
function num(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got '${v}'`);
    return n;
  };
}

function bool(name: string) {
  return (v: string) => {
    const t = v.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(t)) return true;
    if (['false', '0', 'no', 'off'].includes(t)) return false;
    throw new InvalidArgumentError(`${name} must be true or false, got '${v}'`);
  };
}

/** Builds the program (exported for tests). */
export function program(): Command {
  const p = new Command('sfn-edge')
    .description('Video anomaly detection at the edge with a Sparse Filtering Network (SFN-Lite)')
    .showHelpAfterError()
    // every verb's --help lists --log-level / --log-format too (inherited by the commands added below)
    .configureHelp({ showGlobalOptions: true })
    .version(versionText(), '-V, --version', 'print the version of sfn-edge, the platform and the ONNX Runtime version')
    // global options: accepted before or after any verb; applied before the verb's action runs
    .addOption(new Option('--log-level <level>', 'log threshold (the flag wins over SFN_LOG_LEVEL)').choices(LOG_LEVELS).env('SFN_LOG_LEVEL'))
    .addOption(new Option('--log-format <format>', 'log form on stderr: json (one record a line) or pretty (readable); default pretty on a terminal, else json').choices(LOG_FORMATS).env('SFN_LOG_FORMAT'))
    .hook('preAction', (root) => {
      const g = root.opts<{ logLevel?: string; logFormat?: string }>();
      configureLog({ level: g.logLevel, format: g.logFormat });
    });

  p.command('train')
    .description('train SFN-Lite on a folder of normal videos')
    .requiredOption('--data <folder>', 'folder of normal videos (image-sequence subfolders or video files)')
    .requiredOption('--out <dir>', 'output folder (checkpoints, snapshots, history, final weights)')
    .option('--epochs <n>', 'passes over the training clips (default: the recipe sizes the run to the data: 16 passes, 1,000-2,500 steps)', int('--epochs'))
    .option('--batch <n>', 'clips per step', int('--batch'), 8)
    .option('--lr <x>', 'peak learning rate (AdamW)', num('--lr'), 1e-3)
    .option('--warmup <steps>', 'linear warm-up steps (default: 5% of the steps)', int('--warmup'))
    .option('--pseudo-share <x>', 'share of each batch that are skip-frame pseudo-anomalies (0 = off)', num('--pseudo-share'), 0.25)
    .option('--no-hold-back', 'train on every frame (no calibration/check split, no validation; the last step is the result)')
    .option('--weight-decay <x>', 'decoupled weight decay', num('--weight-decay'), 0.01)
    .option('--clip-norm <x>', 'gradient global-norm clip (0 = off)', num('--clip-norm'), 1.0)
    .option('--seed <n>', 'seed for initialisation and data order', int('--seed'), 1)
    .option('--resume', 'continue from <out>/checkpoint', false)
    .option('--checkpoint-every <steps>', 'checkpoint period in steps', int('--checkpoint-every'), 100)
    .option('--model <json>', 'model hyper-parameters as JSON, e.g. \'{"dim":96,"experts":16,"topK":4,"expertDim":8}\'', '{}')
    .option('--limit-videos <n>', 'use only the first N videos', int('--limit-videos'))
    .option('--max-steps <n>', 'train for at most N steps in total (shortens the LR schedule)', int('--max-steps'))
    .option('--stop-after <n>', 'stop at step N keeping the full schedule (continue later with --resume)', int('--stop-after'))
    .option('--captions <file>', 'caption file of the training videos (`sfn-edge caption`): adds and trains the semantic branch')
    .option('--init <weights.json>', 'start from these weights (fine-tune); new parameters keep their fresh initialisation')
    .option('--sim-weight <x>', 'weight of the semantic loss (1 - cos) in the total', num('--sim-weight'), 1)
    .option('--train-only <prefixes>', 'train only parameters whose names start with these (comma-separated), e.g. embed.text,head.text; the rest stay frozen')
    .action(async (o) => {
      const { train } = await import('./train/train.js');
      let model: object;
      try {
        model = JSON.parse(o.model as string) as object;
      } catch (err) {
        throw new Error(`--model is not valid JSON: ${(err as Error).message}`);
      }
      const r = await train({
        data: o.data, out: o.out, epochs: o.epochs, batch: o.batch, lr: o.lr, warmup: o.warmup, seed: o.seed,
        resume: o.resume, model, limitVideos: o.limitVideos, maxSteps: o.maxSteps, stopAfter: o.stopAfter, checkpointEvery: o.checkpointEvery,
        weightDecay: o.weightDecay, clipNorm: o.clipNorm, pseudoShare: o.pseudoShare, holdBack: o.holdBack, captions: o.captions, init: o.init, simWeight: o.simWeight, ...(o.trainOnly ? { trainOnly: String(o.trainOnly).split(',').map((x: string) => x.trim()) } : {}),
      });
      const { config: _c, ...rest } = r;
      if (r.partial) log.warn(rest, `training stopped at step ${r.steps} of ${r.totalSteps} (partial): ${r.weights} holds the last step; continue with --resume`);
      else log.info(rest, `training finished: ${r.steps} of ${r.totalSteps} steps`);
      process.stdout.write(`${JSON.stringify({
        weights: r.weights, steps: r.steps, total_steps: r.totalSteps, partial: r.partial, chosen_step: r.chosenStep ?? null,
        // seconds are cumulative over resumed runs; samples_per_second is this run's (both also under their labels)
        seconds: +r.seconds.toFixed(1), samples_per_second: +r.samplesPerSecond.toFixed(2),
        cumulative: { steps: r.steps, seconds: +r.seconds.toFixed(1) },
        this_run: { steps: r.thisRun.steps, seconds: +r.thisRun.seconds.toFixed(1), samples_per_second: +r.thisRun.samplesPerSecond.toFixed(2) },
        parameters: r.parameters,
      })}\n`);
    });

  p.command('learn')
    .description('the own-camera path in one command: record normal video (or take a file / folder), train with the recipe, export, build int8, calibrate, print the run command')
    .requiredOption('--source <src>', 'camera / stream URL (rtsp://, http://, /dev/videoN: recorded), or a video file or folder of normal videos (used as it is)')
    .requiredOption('--out <dir>', 'output folder (recording, train/, models/{fp32,fp16,int8}/, learn.json)')
    .option('--minutes <n>', 'minutes of normal video to record from a live source', num('--minutes'), 5)
    .option('--name <name>', 'model name (default: the output folder name)')
    .option('--max-steps <n>', 'at most N training steps (tiny runs and smoke tests; the result is undertrained)', int('--max-steps'))
    .action(async (o) => {
      const { runLearnCommand } = await import('./learn/command.js');
      await runLearnCommand(o);
    });

  p.command('caption')
    .description('caption every frame of a folder of videos on the device (detector captioner) and save the captions and their text features')
    .requiredOption('--data <folder>', 'folder of videos (image-sequence subfolders or video files), or one video')
    .requiredOption('--out <file.json>', 'caption file to write (used by `train --captions` and `eval --captions`)')
    .option('--every <k>', 'caption every K-th frame and repeat it until the next', int('--every'), 1)
    .option('--captioner <name>', 'detector (default) or vlm', 'detector')
    .option('--model-dir <folder>', 'model folder of the captioner (detector: centernet.json/.bin; vlm: a local captioning model)')
    .option('--workers <n>', 'caption workers, one video each at a time (default one per core, at most 4)', int('--workers'))
    .action(async (o) => {
      const { runCaptionCommand } = await import('./caption/command.js');
      await runCaptionCommand(o);
    });

  p.command('eval')
    .description('frame-level AUC (micro and macro) of a model on a labelled data set (Ped2 layout)')
    .option('--model <file>', 'ONNX model (manifest beside it); default: the one models/default.json names, as run')
    .option('--weights <file>', 'TensorFlow.js weights (.json) from `train` instead of an ONNX model')
    .requiredOption('--dataset <folder>', 'data set root with testing/frames/NN and test_frame_labels.json')
    .addOption(new Option('--baseline <name>', 'evaluate a trivial predictor instead of a model').choices(['copy-last']))
    .addOption(new Option('--measure <m>', 'per-frame error for the headline AUC').choices(['mse', 'patch-max']).default('mse'))
    .option('--sigma <frames>', 'temporal Gaussian smoothing sigma', num('--sigma'), 5)
    .option('--patch <px>', 'patch-max window (pixels of the model grid)', int('--patch'), 16)
    .option('--stride <px>', 'patch-max stride (default = patch)', int('--stride'))
    .option('--videos <list>', 'comma-separated test videos, e.g. 01,02')
    .option('--size <WxH>', 'grid for --baseline (default 144x96)', '144x96')
    .option('--json', 'print the result as JSON on stdout', false)
    .option('--report <dir>', 'write an HTML report with ROC and per-video timelines')
    .option('--record', "store the result in the model's manifest (evaluation field)", false)
    .option('--providers <list>', 'execution providers to try in order', 'tensorrt,cuda,cpu')
    .option('--captions <file>', 'caption file of the test videos for a model with the semantic branch (default: caption them now)')
    .option('--caption-every <k>', 'captioning now: caption every K-th frame and reuse it until the next, as the device does (default 2; 1 = every frame)', int('--caption-every'))
    .option('--caption-workers <n>', 'captioning now: caption workers (default one per core, at most 4)', int('--caption-workers'))
    .option('--online', "replay run's loop and event detector over the test videos: online AUC, segments detected, latency, frames in events, false events/hour of held-back normal video (--model defaults to run's: the one models/default.json names)", false)
    .option('--config <file>', '--online: runtime configuration (thresholds, smoothing, measure) as run takes it')
    .option('--normal <folder>', "--online: normal videos whose 'check' part gives false events/hour (default <dataset>/training/frames)")
    .option('--fps <n>', '--online: frame rate of the data set (default 10, UCSD)', num('--fps'), 10)
    .option('--object', 'also score by object boxes of the on-device detector (measure object; offline only, ~30-50 ms per frame)', false)
    .option('--uncalibrated', "--online: ignore the model's calibration (running baseline, as before calibration)", false)
    .action(async (o) => {
      const { runEval } = await import('./eval/command.js');
      await runEval(o);
    });

  p.command('calibrate')
    .description("error statistics of a model on held-back normal video (the split's calibration part), written into its manifest for run")
    .requiredOption('--model <file>', 'ONNX model (manifest beside it)')
    .requiredOption('--data <folder>', 'folder of normal videos of the camera (or one video)')
    .option('--fpr <rate>', 'per-frame false-alarm rate of the stored threshold', num('--fpr'), 0.01)
    .option('--json', 'print the calibration summary as JSON', false)
    .action(async (o) => {
      const { runCalibrate } = await import('./eval/command.js');
      await runCalibrate(o);
    });

  p.command('export')
    .description('export trained weights as an ONNX model (opset 17) with a manifest')
    .option('--weights <file>', 'weights (.json) written by `train`')
    .option('--from-onnx <file>', 'instead of --weights: an earlier sfn-edge fp32 export (manifest beside it) to rebuild in the current graph layout, checked against it')
    .requiredOption('--out <file>', 'output .onnx path (manifest written beside it)')
    .option('--name <name>', 'model name in the manifest')
    .option('--batch <n>', 'fixed batch size (default: dynamic)', int('--batch'))
    .option('--parity-data <folder>', 'check parity on the first clips of these videos instead of seeded noise')
    .action(async (o) => {
      const { runExport } = await import('./export/command.js');
      await runExport(o);
    });

  p.command('optimize')
    .description('fp32 ONNX model -> fp16, int8 QDQ and expert-pruned variants with manifests')
    .requiredOption('--model <file>', 'fp32 .onnx exported by `export` (manifest beside it)')
    .requiredOption('--calib <folder>', 'folder of normal videos for calibration (e.g. Ped2 training frames)')
    .option('--out <dir>', 'models root (variants go to <out>/fp16 and <out>/int8)', 'models')
    .option('--name <name>', 'base name of the variants (default: the model manifest name)')
    .option('--clips <n>', 'calibration clips', int('--clips'), 64)
    .option('--keep <n>', 'experts kept per layer in the pruned variants (default 3/4)', int('--keep'))
    .option('--dataset <folder>', 'Ped2-layout data set: measure micro AUC, choose the int8 calibration by it')
    .option('--videos <list>', 'only these test videos of --dataset, e.g. 01,02')
    .option('--captions <file>', 'a semantic model: caption file of the --calib videos (`sfn-edge caption`), for the text input of the calibration clips')
    .option('--test-captions <file>', 'a semantic model with --dataset: caption file of the test videos (default: caption them now, cached)')
    .option('--threads <n>', 'ONNX Runtime intra-op threads', int('--threads'), 2)
    .addOption(new Option('--methods <list>', 'int8 calibration methods to try (comma-separated: minmax, percentile)').default('minmax,percentile'))
    .addOption(new Option('--router <mode>', 'int8 router MatMuls: int8, float, or both tried and measured').choices(['int8', 'float', 'both']).default('both'))
    .option('--int8-attention', 'also quantize the attention MatMuls (two activations) in int8 variants', false)
    .addOption(new Option('--fp16-keep <preset>', 'nodes kept float32 in fp16 variants').choices(['none', 'router', 'router+layernorm']).default('none'))
    .action(async (o) => {
      const { runOptimize } = await import('./optimize/command.js');
      const { CALIBRATION_METHODS } = await import('./optimize/calibrate.js');
      const methods = (o.methods as string).split(',');
      for (const m of methods) if (!(CALIBRATION_METHODS as readonly string[]).includes(m)) throw new Error(`unknown calibration method '${m}'; known: ${CALIBRATION_METHODS.join(', ')}`);
      await runOptimize({
        ...o,
        videos: o.videos ? (o.videos as string).split(',') : undefined,
        methods: methods as (typeof CALIBRATION_METHODS)[number][],
        routerFloat: o.router === 'both' ? undefined : o.router === 'float',
      });
    });

  p.command('models')
    .description('list the model variants under a models root, checked against their manifests')
    .option('--root <dir>', 'models root', 'models')
    .option('--bench <file>', 'saved `bench` result that the ms/frame column is taken from (matched by model sha256)', 'bench/results.json')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      const { runModels } = await import('./optimize/models.js');
      await runModels(o);
    });

  p.command('config')
    .description('show or clear the remote configuration that config/set saved and run re-applies at start')
    .argument('<action>', 'show | reset')
    .option('--state-dir <dir>', 'the state folder of the run (its --state-dir)', '.sfn-edge')
    .action(async (action: string, o) => {
      const { runConfigCommand } = await import('./runtime/config-command.js');
      await runConfigCommand(action, o);
    });

  p.command('bench')
    .description('benchmark every model variant here (ms/frame, fps, memory, AUC, peak); saves bench/results.json')
    .option('--root <dir>', 'models root', 'models')
    .option('--profile <name>', 'device profile for providers, batch and threads (default: detected)')
    .option('--threads <n>', 'ONNX Runtime intra-op threads', int('--threads'))
    .option('--runs <n>', 'timed runs per batch size', int('--runs'), 20)
    .option('--save <file>', 'where to save the JSON', 'bench/results.json')
    .option('--batch <n>', 'batch of the headline column and the speed-up (default: the profile\'s)', int('--batch'))
    .option('--batches <list>', 'also time these batch sizes, e.g. 1,4,8,16 (a table per batch)')
    .option('--only <regexp>', 'only the variants whose name matches, e.g. "sfn-lite-ped2$"')
    .option('--json', 'print JSON instead of the table', false)
    .action(async (o) => {
      const { runBench } = await import('./optimize/bench.js');
      const batches = o.batches ? (o.batches as string).split(',').map((b) => Number(b)) : undefined;
      if (batches?.some((b) => !(Number.isInteger(b) && b >= 1))) throw new Error(`--batches: positive integers, got '${o.batches}'`);
      await runBench({ ...o, ...(batches ? { batches } : {}) });
    });

  const profile = p.command('profile').description('device profiles (device-profiles/*.json)');
  profile
    .command('show <name>')
    .description('print a device profile (name or path), defaults filled')
    .action(async (name: string) => {
      const { runProfileShow } = await import('./device/command.js');
      await runProfileShow(name);
    });
  profile
    .command('detect')
    .description('report which device profile fits this machine')
    .action(async () => {
      const { runProfileDetect } = await import('./device/command.js');
      await runProfileDetect();
    });

  p.command('run')
    .description('watch a source, score every frame, report anomaly events over MQTT, keep clips')
    .option('--source <src>', 'image-sequence folder or video file (live URLs / /dev/video* reconnect with backoff); the one camera (required unless the --config file has a `cameras` list)')
    .option('--camera-id <id>', 'put the one camera of --source on its own topics sfn/<device>/<id>/... (default: cam0 on the device\'s topics sfn/<device>/...)')
    .option('--model <file>', 'ONNX model (manifest beside it); default: the one models/default.json names')
    .option('--broker <url>', 'MQTT broker, e.g. mqtt://host:1883 or mqtts://host:8883; several nodes of a cluster: repeat the flag or separate with commas, and the device moves to another node when its node goes (default: embedded aedes on 127.0.0.1)', (v: string, prev?: string) => (prev ? `${prev},${v}` : v))
    .option('--device-id <id>', 'device id in topics sfn/<id>/... (default: hostname)')
    .option('--config <file>', 'runtime configuration (JSON; schema in schemas/runtime-config.schema.json)')
    .option('--profile <name>', 'device profile (device-profiles/<name>.json): providers, threads, TensorRT options, model variant')
    .option('--realtime <bool>', 'pace at the source rate and drop frames the model cannot keep up with (false: as fast as possible)', bool('--realtime'), true)
    .option('--loop', 'play a file or folder source again from its start each time it ends, until Ctrl-C / SIGTERM', false)
    .option('--clips <dir>', 'folder for event clips (MP4) and snapshots (JPEG)', 'clips')
    .option('--embedded-port <n>', 'port of the embedded broker (default 1883, or a free port when 1883 is taken)', int('--embedded-port'))
    .option('--providers <list>', 'execution providers to try in order', 'tensorrt,cuda,cpu')
    .option('--fps <x>', 'source frame rate (default: from the video, else 25)', num('--fps'))
    .option('--state-dir <dir>', 'outbox and persisted remote configuration', '.sfn-edge')
    .option('--username <u>', 'MQTT username')
    .option('--password <p>', 'MQTT password (visible in the process list: prefer --password-file or SFN_MQTT_PASSWORD)')
    .option('--password-file <file>', 'read the MQTT password from this file (first line; keep it mode 0600)')
    .option('--ca <file>', 'TLS CA certificate (PEM)')
    .option('--cert <file>', 'TLS client certificate (PEM)')
    .option('--key <file>', 'TLS client key (PEM)')
    .option('--metrics-port <n>', 'serve Prometheus metrics on 127.0.0.1:<n>/metrics', int('--metrics-port'))
    .option('--ws-port <n>', 'MQTT-over-WebSocket port of the embedded broker, for the viewer (default 9001, or a free port when taken)', int('--ws-port'))
    .option('--whep-port <n>', 'also serve WHEP (WebRTC over plain HTTP: POST /whep/clip/<event_id> or /whep/live) on this port', int('--whep-port'))
    .option('--whep-host <addr>', 'listen address of the WHEP endpoint (0.0.0.0 for the local network)', '127.0.0.1')
    .action(async (o) => {
      const { runCommand } = await import('./runtime/command.js');
      const { isLiveSource } = await import('./video/stream-source.js');
      const { exitBeforeWrtcCleanup } = await import('./webrtc/wrtc.js');
      try {
        const summary = await runCommand(o);
        // a file or folder that could not be read to its end is a failed run (the summary line says what was scored)
        if (summary.source_error !== undefined && !isLiveSource(summary.source)) {
          process.stderr.write(`sfn-edge: the source could not be read to its end: ${summary.source_error}\n`);
          process.exitCode = 1;
        }
      } finally {
        exitBeforeWrtcCleanup();
      }
    });

  p.command('viewer')
    .description('serve the browser viewer: devices, flagged events with captions and snapshots, clips and live view over WebRTC')
    .option('--broker <ws-url>', 'MQTT-over-WebSocket address of the broker (run\'s embedded broker: ws://127.0.0.1:9001; Mosquitto: listener 9001 + protocol websockets)', 'ws://127.0.0.1:9001')
    .option('--port <n>', 'HTTP port of the viewer', int('--port'), 8080)
    .option('--host <addr>', 'listen address', '127.0.0.1')
    .option('--token <t>', 'streaming token filled into the page (else typed in the page)')
    .option('--ice <json>', 'STUN/TURN servers of the browser side, JSON, e.g. \'[{"urls":"stun:stun.example.org"}]\'', '[]')
    .option('--collect <url>', 'HTTP API of an `sfn-edge collect` (e.g. http://127.0.0.1:8090): adds the event history, filtered by device, camera, time and score')
    .action(async (o) => {
      const { runViewer } = await import('./viewer/command.js');
      await runViewer(o);
    });

  p.command('collect')
    .description('central consumer: store every device\'s events, descriptions, clips and availability (MQTT 5 shared subscription) and serve them over HTTP (docs/fleet.md)')
    .requiredOption('--broker <url>', 'MQTT 5 broker URL, e.g. mqtt://broker:1883')
    .option('--group <name>', 'shared-subscription group; collectors in one group split the messages', 'sfn-collect')
    .option('--db <path|url>', 'SQLite file (default) or postgres://user@host:port/db', 'sfn-collect.db')
    .option('--http-port <n>', 'HTTP API port', int('--http-port'), 8090)
    .option('--host <addr>', 'HTTP listen address', '127.0.0.1')
    .option('--retention-days <n>', 'delete messages older than this many days', int('--retention-days'))
    .option('--retention-rows <n>', 'keep at most this many messages (newest)', int('--retention-rows'))
    .option('--retain-mb <n>', 'keep the stored messages under this many MB (payload + 200 bytes a message); oldest events go first', num('--retain-mb'))
    .option('--client-id <id>', 'base MQTT client id, the same across restarts so the broker keeps what this collector has not acknowledged (connection i: <id>-<i>); each collector of a group needs its own (default: sfn-collect-<hostname>)')
    .option('--connections <n>', 'MQTT connections (share-group members) of this collector, 1..64 (MQTT.js hands a connection one message at a time and it is acknowledged after its row commits, so these bound the batch size)', int('--connections'), 32)
    .action(async (o) => {
      const { runCollect } = await import('./collect/command.js');
      await runCollect(o);
    });

  registerFlash(p);
  return p;
}

/** Entry point used by bin/sfn-edge.js. */
export async function main(argv: string[]): Promise<void> {
  await program().parseAsync(argv);
}
