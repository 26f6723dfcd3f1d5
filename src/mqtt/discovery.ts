/**
 * Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
 * retained config messages that make three entities appear in Home Assistant, with the device's
 * `availability` topic:
 * - the anomaly score (sensor), read from `stats` (every `stats_interval_s`);
 * - "event active" (binary sensor), read from the retained `event/state`, which changes on each
 *   event's `new` and `end` (so events shorter than the stats interval are not missed);
 * - the source state (sensor: up / down / reconnecting), read from the retained `source/state`.
 *
 * A device with cameras (topics.ts "Cameras") makes one Home Assistant device per camera, with the
 * camera's topics, available while both the device and the camera are (`availability_mode: all`).
 */
import { cameraScope, deviceTopic, discoveryTopic, TOPICS } from './topics.js';

/** One discovery message: retained config payload on its topic. */
export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/**
 * The discovery messages of a device, or of one of its cameras.
 * @param deviceId the id in `sfn/<deviceId>/...`; characters other than [a-zA-Z0-9_-] become `_` in object ids.
 * @param prefix Home Assistant's discovery prefix (default `homeassistant`).
 * @param camera a camera of the device: its entities read `sfn/<deviceId>/<camera>/...`
 */
export function discoveryMessages(deviceId: string, prefix = 'homeassistant', camera?: string): DiscoveryMessage[] {
  const clean = (s: string) => s.replace(/[^a-zA-Z0-9_-]/g, '_');
  const deviceOid = `sfn_${clean(deviceId)}`;
  const oid = camera === undefined ? deviceOid : `${deviceOid}_${clean(camera)}`;
  const scope = camera === undefined ? deviceId : cameraScope(deviceId, camera);
  const device = { identifiers: [oid], name: camera === undefined ? `sfn-edge ${deviceId}` : `sfn-edge ${deviceId} ${camera}`, manufacturer: 'sfn-edge', model: 'SFN-Lite', ...(camera === undefined ? {} : { via_device: deviceOid }) };
  const availability = camera === undefined
    ? { availability_topic: deviceTopic(deviceId, TOPICS.availability) }
    : { availability: [{ topic: deviceTopic(deviceId, TOPICS.availability) }, { topic: deviceTopic(scope, TOPICS.availability) }], availability_mode: 'all' };
  const common = { ...availability, payload_available: 'online', payload_not_available: 'offline', device };
  return [
    {
      topic: discoveryTopic(prefix, 'sensor', oid, 'anomaly_score'),
      payload: { ...common, state_topic: deviceTopic(scope, TOPICS.stats), name: 'Anomaly score', unique_id: `${oid}_anomaly_score`, value_template: '{{ value_json.score }}', state_class: 'measurement' },
    },
    {
      topic: discoveryTopic(prefix, 'binary_sensor', oid, 'event_active'),
      payload: { ...common, state_topic: deviceTopic(scope, TOPICS.eventState), name: 'Anomaly event', unique_id: `${oid}_event_active`, value_template: "{{ 'ON' if value_json.active else 'OFF' }}", device_class: 'problem' },
    },
    {
      topic: discoveryTopic(prefix, 'sensor', oid, 'source_state'),
      payload: { ...common, state_topic: deviceTopic(scope, TOPICS.sourceState), name: 'Camera source', unique_id: `${oid}_source_state`, value_template: '{{ value_json.state }}', json_attributes_topic: deviceTopic(scope, TOPICS.sourceState), icon: 'mdi:cctv' },
    },
  ];
}
