/**
 * The one topic table (src/mqtt/topics.ts): the topic strings and filters it builds are the ones
 * docs/mqtt.md documents, and the reporter subscribes only to topics of the table.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HANDLERS } from '../../src/mqtt/reporter.js';
import {
  deviceBase,
  deviceTopic,
  discoveryTopic,
  eventClipTopic,
  eventDescriptionTopic,
  parseWebrtcTopic,
  suffixOf,
  TOPICS,
  webrtcFilter,
  webrtcTopic,
  WEBRTC_LEAVES,
} from '../../src/mqtt/topics.js';

describe('mqtt topic table', () => {
  it('spells every device topic under sfn/<device>/', () => {
    assert.equal(deviceBase('cam1'), 'sfn/cam1');
    const want: Record<keyof typeof TOPICS, string> = {
      availability: 'sfn/cam1/availability',
      events: 'sfn/cam1/events',
      stats: 'sfn/cam1/stats',
      configSet: 'sfn/cam1/config/set',
      configState: 'sfn/cam1/config/state',
      configAck: 'sfn/cam1/config/ack',
      snapshot: 'sfn/cam1/snapshot',
      sourceState: 'sfn/cam1/source/state',
      eventState: 'sfn/cam1/event/state',
      learnState: 'sfn/cam1/learn/state',
      learnAck: 'sfn/cam1/learn/ack',
      cmdSnapshot: 'sfn/cam1/cmd/snapshot',
      cmdRestartSource: 'sfn/cam1/cmd/restart-source',
      cmdLearn: 'sfn/cam1/cmd/learn',
      clips: 'sfn/cam1/clips',
    };
    for (const [k, suffix] of Object.entries(TOPICS)) assert.equal(deviceTopic('cam1', suffix), want[k as keyof typeof TOPICS], k);
    assert.equal(eventClipTopic('cam1', 'e-1'), 'sfn/cam1/events/e-1/clip');
    assert.equal(eventDescriptionTopic('cam1', 'e-1'), 'sfn/cam1/events/e-1/description');
  });

  it('reads the suffix of a device topic, and nothing of another device', () => {
    assert.equal(suffixOf('cam1', 'sfn/cam1/config/set'), 'config/set');
    assert.equal(suffixOf('cam1', 'sfn/cam10/config/set'), null);
    assert.equal(suffixOf('cam1', 'sfn/cam1'), null);
  });

  it('the reporter subscribes only to inbound topics of the table', () => {
    const inbound = [TOPICS.configSet, TOPICS.cmdSnapshot, TOPICS.cmdRestartSource, TOPICS.cmdLearn];
    assert.deepEqual(Object.keys(HANDLERS).sort(), [...inbound].sort());
  });

  it('builds and parses the WebRTC signalling topics', () => {
    assert.equal(webrtcTopic('cam1', 's1', WEBRTC_LEAVES.answer), 'sfn/cam1/webrtc/s1/answer');
    assert.equal(webrtcTopic('cam1', 's1', WEBRTC_LEAVES.deviceCandidate), 'sfn/cam1/webrtc/s1/candidate/device');
    assert.equal(webrtcFilter('cam1', WEBRTC_LEAVES.offer), 'sfn/cam1/webrtc/+/offer');
    assert.deepEqual(parseWebrtcTopic('cam1', 'sfn/cam1/webrtc/s1/offer'), { session: 's1', leaf: 'offer' });
    assert.equal(parseWebrtcTopic('cam1', 'sfn/cam1/webrtc/s1/candidate/device'), null, 'the device\'s own candidates are not read back');
    assert.equal(parseWebrtcTopic('cam1', 'sfn/cam1/webrtc/s1'), null);
    assert.equal(parseWebrtcTopic('cam1', 'sfn/cam2/webrtc/s1/offer'), null);
  });

  it('builds Home Assistant discovery topics', () => {
    assert.equal(discoveryTopic('homeassistant', 'binary_sensor', 'sfn_cam1', 'event_active'), 'homeassistant/binary_sensor/sfn_cam1/event_active/config');
  });
});
