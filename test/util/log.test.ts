/**
 * Logs for people (issue 15, item 2): the readable form of a record, and real `sfn-edge`
 * processes (stderr piped, i.e. not a terminal) under --log-format / --log-level /
 * SFN_LOG_LEVEL / SFN_LOG_FORMAT, `--version`, and the streaming-token warning and "webrtc
 * streaming ready" only where streaming is on. `run` goes over 8 Ped2 frames reporting to an
 * embedded aedes broker.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/broker.js';
import { formatPretty } from '../../src/util/log.js';
import { startCli, type CliProcess } from '../cli-process.js';

const PED2 = path.resolve('../shared/datasets/ucsd_ped2/testing/frames/01');
const MODEL = 'models/fp32/sfn-lite-ped2.onnx';
/** a readable line: local time, level padded to 5, message */
const PRETTY = /^\d{2}:\d{2}:\d{2}\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) /;
const TOKEN_WARNING = 'streaming.token is not configured';

/** The JSON records of a process's stderr (every non-empty line must be one). */
function jsonRecords(p: CliProcess): Record<string, unknown>[] {
  return p.stderr.filter((l) => l.trim() !== '').map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      throw new Error(`stderr line is not JSON: ${l}`);
    }
  });
}

describe('formatPretty', () => {
  it('writes time, level, message, then the other fields as key=value', () => {
    const t = new Date(2026, 0, 2, 3, 4, 5, 67).getTime();
    const line = JSON.stringify({ level: 40, time: t, pid: 1, hostname: 'h', name: 'sfn-edge', msg: 'disk low', free_mb: 12, dir: '/var/x', note: 'two words', ok: true, box: { w: 1 } });
    assert.equal(formatPretty(line), '03:04:05.067 WARN  disk low free_mb=12 dir=/var/x note="two words" ok=true box={"w":1}\n');
  });
  it('shows an error by its message, keeps colour off unless asked, and passes other text through', () => {
    const line = JSON.stringify({ level: 50, time: 0, msg: 'failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n  at x' } });
    const out = formatPretty(line);
    assert.match(out, / ERROR failed err="boom"\n$/);
    assert.ok(!out.includes('\x1b['));
    assert.ok(formatPretty(line, { color: true }).includes('\x1b['));
    assert.equal(formatPretty('not json'), 'not json\n');
  });
});

describe('sfn-edge logs and --version (real processes)', () => {
  it('--version prints the package version, the platform and the ONNX Runtime version', async () => {
    const p = startCli(['--version']);
    assert.equal(await p.exited, 0, p.stderr.join('\n'));
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const ort = createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string };
    const out = p.stdout.join('\n').trim();
    assert.equal(out, `sfn-edge ${pkg.version} (${process.platform}-${process.arch}, node ${process.version}, onnxruntime-node ${ort.version})`);
  });

  it('rejects an unknown --log-format and an unknown SFN_LOG_LEVEL before any verb runs', async () => {
    const a = startCli(['profile', 'detect', '--log-format', 'xml']);
    assert.notEqual(await a.exited, 0);
    assert.match(a.stderr.join('\n'), /--log-format.*'xml'.*invalid/);
    const b = startCli(['profile', 'detect'], { env: { SFN_LOG_LEVEL: 'loud' } });
    assert.notEqual(await b.exited, 0);
    assert.match(b.stderr.join('\n'), /SFN_LOG_LEVEL/);
  });
});

describe('run: log form, level and the streaming-token warning', { skip: (!existsSync(PED2) || !existsSync(MODEL)) && 'Ped2 frames or the fp32 model not available' }, () => {
  let dir = '';
  let frames = '';
  let config = '';
  let broker: EmbeddedBroker;
  let n = 0;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sfn-log-'));
    frames = path.join(dir, 'frames');
    await fs.mkdir(frames);
    const names = (await fs.readdir(PED2)).filter((f) => /\.(jpg|png|tif)$/i.test(f)).sort().slice(0, 8);
    for (const f of names) await fs.copyFile(path.join(PED2, f), path.join(frames, f));
    config = path.join(dir, 'streaming-off.json');
    await fs.writeFile(config, JSON.stringify({ streaming: { enabled: false } }));
    broker = await startEmbeddedBroker(0);
  });
  after(async () => {
    await broker?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  /** `run` with streaming off on the frames (its own state and clip folders); waits for its exit (0). */
  async function run(extra: string[], env: NodeJS.ProcessEnv = {}, before: string[] = []): Promise<CliProcess & { state: string }> {
    const state = path.join(dir, `state-${++n}`);
    const p = startCli([...before, 'run', '--source', frames, '--model', MODEL, '--providers', 'cpu', '--realtime', 'false', '--device-id', `log-cam-${n}`,
      '--state-dir', state, '--clips', path.join(dir, `clips-${n}`), '--broker', broker.url, '--config', config, ...extra], { env });
    assert.equal(await p.exited, 0, p.stderr.slice(-10).join('\n'));
    return Object.assign(p, { state });
  }

  it('not a terminal: JSON lines as before; with streaming off, no token warning', async () => {
    const p = await run([]);
    const recs = jsonRecords(p);
    assert.ok(recs.length > 0);
    for (const r of recs) {
      assert.equal(typeof r.level, 'number');
      assert.equal(typeof r.msg, 'string');
      assert.ok((r.level as number) >= 30, `no debug records at info: ${JSON.stringify(r)}`);
    }
    assert.equal(p.records('webrtc streaming ready').length, 0, 'streaming is off: not "ready"');
    assert.ok(!p.stderr.some((l) => l.includes(TOKEN_WARNING)), p.stderr.join('\n'));
    assert.ok(existsSync(path.join(p.state, 'streaming-token')), 'the token is still kept for when streaming is turned on');
  });

  it('--log-format pretty --log-level debug: readable lines, debug shown', async () => {
    const p = await run(['--log-format', 'pretty', '--log-level', 'debug']);
    const lines = p.stderr.filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0);
    for (const l of lines) {
      assert.ok(!l.startsWith('{'), `not JSON: ${l}`);
      assert.match(l, PRETTY);
    }
    assert.ok(lines.some((l) => /^\S+ DEBUG onnx runtime session ready .*provider=cpu/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^\S+ INFO  mqtt: connected, online /.test(l)), lines.join('\n'));
    assert.ok(!lines.some((l) => / webrtc streaming ready /.test(l)), 'streaming is off: not "ready"');
    assert.ok(lines.some((l) => /^\S+ DEBUG streaming is off/.test(l)), 'with streaming off the token is at most a debug line');
    assert.ok(!lines.some((l) => l.includes(TOKEN_WARNING) && / WARN /.test(l)));
  });

  it('--log-level warn (before the verb) hides info lines, and wins over SFN_LOG_LEVEL', async () => {
    const p = await run([], { SFN_LOG_LEVEL: 'debug' }, ['--log-level', 'warn']);
    for (const r of jsonRecords(p)) assert.ok((r.level as number) >= 40, `only warnings and errors: ${JSON.stringify(r)}`);
    assert.equal(p.records('webrtc streaming ready').length, 0);
  });

  it('SFN_LOG_LEVEL=debug still shows debug records; SFN_LOG_FORMAT=pretty gives readable lines', async () => {
    const a = await run([], { SFN_LOG_LEVEL: 'debug' });
    assert.ok(a.records('onnx runtime session ready').some((r) => r.level === 20), a.stderr.join('\n'));
    const b = await run([], { SFN_LOG_FORMAT: 'pretty' });
    const lines = b.stderr.filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0);
    for (const l of lines) assert.match(l, PRETTY);
    assert.ok(!lines.some((l) => / DEBUG /.test(l)), 'info by default');
  });
});
