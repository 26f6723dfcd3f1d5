/**
 * Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
 * retained config messages that make the device's anomaly score (sensor) and "event active"
 * (binary sensor) appear in Home Assistant, both read from the `stats` messages, with the device's
 * `availability` topic.
 */

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
  const base = `sfn/${deviceId}`;
  const oid = `sfn_${deviceId.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  const device = { identifiers: [oid], name: `sfn-edge ${deviceId}`, manufacturer: 'sfn-edge', model: 'SFN-Lite' };
  const common = { availability_topic: `${base}/availability`, payload_available: 'online', payload_not_available: 'offline', state_topic: `${base}/stats`, device };
  return [
    {
      topic: `${prefix}/sensor/${oid}/anomaly_score/config`,
      payload: { ...common, name: 'Anomaly score', unique_id: `${oid}_anomaly_score`, value_template: '{{ value_json.score }}', state_class: 'measurement' },
    },
    {
      topic: `${prefix}/binary_sensor/${oid}/event_active/config`,
      payload: { ...common, name: 'Anomaly event', unique_id: `${oid}_event_active`, value_template: "{{ 'ON' if value_json.in_event else 'OFF' }}", device_class: 'problem' },
    },
  ];
}
