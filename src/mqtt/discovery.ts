/**
 * Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
 * retained config messages that make three entities appear in Home Assistant, with the device's
 * `availability` topic:
 * - the anomaly score (sensor), read from `stats` (every `stats_interval_s`);
 * - "event active" (binary sensor), read from the retained `event/state`, which changes on each
 *   event's `new` and `end` (so events shorter than the stats interval are not missed);
 * - the source state (sensor: up / down / reconnecting), read from the retained `source/state`.
 */
import { deviceTopic, discoveryTopic, TOPICS } from './topics.js';

/** One discovery message: retained config payload on its topic. */
export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/**
 * The discovery messages of a device.
 * @param deviceId the id in `sfn/<deviceId>/...`; characters other than [a-zA-Z0-9_-] become `_` in object ids.
 * @param prefix Home Assistant's discovery prefix (default `homeassistant`).
 */
export function discoveryMessages(deviceId: string, prefix = 'homeassistant'): DiscoveryMessage[] {
  const oid = `sfn_${deviceId.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  const device = { identifiers: [oid], name: `sfn-edge ${deviceId}`, manufacturer: 'sfn-edge', model: 'SFN-Lite' };
  const common = { availability_topic: deviceTopic(deviceId, TOPICS.availability), payload_available: 'online', payload_not_available: 'offline', device };
  return [
    {
      topic: discoveryTopic(prefix, 'sensor', oid, 'anomaly_score'),
      payload: { ...common, state_topic: deviceTopic(deviceId, TOPICS.stats), name: 'Anomaly score', unique_id: `${oid}_anomaly_score`, value_template: '{{ value_json.score }}', state_class: 'measurement' },
    },
    {
      topic: discoveryTopic(prefix, 'binary_sensor', oid, 'event_active'),
      payload: { ...common, state_topic: deviceTopic(deviceId, TOPICS.eventState), name: 'Anomaly event', unique_id: `${oid}_event_active`, value_template: "{{ 'ON' if value_json.active else 'OFF' }}", device_class: 'problem' },
    },
    {
      topic: discoveryTopic(prefix, 'sensor', oid, 'source_state'),
      payload: { ...common, state_topic: deviceTopic(deviceId, TOPICS.sourceState), name: 'Camera source', unique_id: `${oid}_source_state`, value_template: '{{ value_json.state }}', json_attributes_topic: deviceTopic(deviceId, TOPICS.sourceState), icon: 'mdi:cctv' },
    },
  ];
}
