/**
 * The service group of `run` (src/runtime/services.ts): services start in order and stop in
 * reverse; a start that fails stops the ones already started, in reverse, and its error reaches
 * the caller; a stop that fails does not keep the others from stopping.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { service, ServiceGroup, type Service } from '../../src/runtime/services.js';

function recording(log: string[], name: string, failStart = false, failStop = false): Service {
  return service(name, () => {
    log.push(`start ${name}`);
    if (failStart) throw new Error(`${name} cannot start`);
  }, () => {
    log.push(`stop ${name}`);
    if (failStop) throw new Error(`${name} cannot stop`);
  });
}

describe('ServiceGroup', () => {
  it('starts in order and stops in reverse, once', async () => {
    const log: string[] = [];
    const g = new ServiceGroup();
    await g.startAll(['broker', 'reporter', 'camera'].map((n) => recording(log, n)));
    assert.deepEqual(g.running, ['broker', 'reporter', 'camera']);
    await g.stop();
    await g.stop();
    assert.deepEqual(log, ['start broker', 'start reporter', 'start camera', 'stop camera', 'stop reporter', 'stop broker']);
    assert.deepEqual(g.running, []);
  });

  it('a failing start stops the ones already started, in reverse, and rethrows; the failed one is not stopped', async () => {
    const log: string[] = [];
    const g = new ServiceGroup();
    await assert.rejects(g.startAll([recording(log, 'broker'), recording(log, 'reporter'), recording(log, 'streaming', true), recording(log, 'metrics')]), /streaming cannot start/);
    assert.deepEqual(log, ['start broker', 'start reporter', 'start streaming', 'stop reporter', 'stop broker']);
    await assert.rejects(g.start(recording(log, 'late')), /stopping/);
  });

  it('an isolated start that fails is left out, the group goes on and later stops the rest in reverse', async () => {
    const log: string[] = [];
    const g = new ServiceGroup();
    await g.start(recording(log, 'broker'));
    assert.equal(await g.startIsolated(recording(log, 'cam1')), null);
    const err = await g.startIsolated(recording(log, 'cam2', true));
    assert.match(err?.message ?? '', /cam2 cannot start/);
    assert.equal(await g.startIsolated(recording(log, 'cam3')), null);
    assert.deepEqual(g.running, ['broker', 'cam1', 'cam3']);
    await g.stop();
    assert.deepEqual(log.slice(4), ['stop cam3', 'stop cam1', 'stop broker']);
  });

  it('a failing stop is logged and the others still stop', async () => {
    const log: string[] = [];
    const g = new ServiceGroup();
    await g.startAll([recording(log, 'a'), recording(log, 'b', false, true), recording(log, 'c')]);
    await g.stop();
    assert.deepEqual(log.slice(3), ['stop c', 'stop b', 'stop a']);
  });
});
