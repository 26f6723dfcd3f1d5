// sfn-edge viewer: lists devices (retained availability), flagged events (events, retained clip
// catalog, captions from events/<id>/description) and plays a flagged clip or the live view over
// WebRTC, signalled over MQTT (sfn/<device>/webrtc/<session>/...). Plain browser JavaScript; the
// MQTT client is the `mqtt` package's browser bundle served beside this file.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const mqttLib = window.mqtt && (window.mqtt.connect ? window.mqtt : window.mqtt.default);
  const devices = new Map(); // device -> { online: boolean }
  const events = new Map(); // `${device}/${id}` -> row data
  const catalogs = new Map(); // device -> Set(event ids with a clip)
  const state = { client: null, session: null, config: { broker: '', token: '', iceServers: [] } };
  // exposed for tests and debugging
  window.sfnViewer = { devices, events, stats: { framesDecoded: 0, width: 0, height: 0 }, get session() { return state.session; }, play, stop };

  function el(tag, props = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else e[k] = v;
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function setStatus(id, text, error = false) {
    const e = $(id);
    e.textContent = text;
    e.className = error ? 'error' : 'muted';
  }

  function parseJson(payload) {
    try {
      return JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return undefined;
    }
  }

  /** A caption message is JSON with a text field, or plain text. */
  function captionText(payload) {
    const v = parseJson(payload);
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      for (const k of ['caption', 'description', 'text', 'summary']) if (typeof v[k] === 'string') return v[k];
    }
    return new TextDecoder().decode(payload).slice(0, 500);
  }

  function eventRow(device, id) {
    const key = `${device}/${id}`;
    let r = events.get(key);
    if (!r) {
      r = { device, id, time: '', peak: null, type: '', caption: '', snapshot: '' };
      events.set(key, r);
    }
    return r;
  }

  let renderQueued = false;
  function render() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      renderDevices();
      renderEvents();
    });
  }

  function renderDevices() {
    const ul = $('device-list');
    ul.replaceChildren();
    if (devices.size === 0) ul.append(el('li', { class: 'muted' }, 'none seen yet'));
    for (const [name, d] of [...devices].sort()) {
      const word = d.online ? 'online' : d.unknown ? 'unknown (broker lost)' : 'offline';
      ul.append(el('li', { class: d.online ? 'online' : 'offline', dataset: { device: name, state: d.online ? 'online' : d.unknown ? 'unknown' : 'offline' } },
        el('span', { class: 'dot' }), name, ' ', el('span', { class: 'muted' }, word), el('br'),
        el('button', { type: 'button', class: 'live', disabled: !d.online, onclick: () => play(name, { live: true }) }, 'Live'), ' ',
        el('button', { type: 'button', class: 'live-region', disabled: !d.online, onclick: () => play(name, { live: true, overlay: true }) }, 'Live + region'),
        ...(d.cameras && d.cameras.size > 0 ? [el('ul', { class: 'cameras' }, ...[...d.cameras].sort().map(([cam, on]) =>
          el('li', { class: on && d.online ? 'online' : 'offline', dataset: { camera: cam, state: on && d.online ? 'online' : 'offline' } }, el('span', { class: 'dot' }), cam, ' ', el('span', { class: 'muted' }, on && d.online ? 'online' : 'offline'))))] : [])));
    }
  }

  function renderEvents() {
    const tbody = $('event-table').tBodies[0];
    tbody.replaceChildren();
    const rows = [...events.values()].sort((a, b) => (b.time || '').localeCompare(a.time || ''));
    if (rows.length === 0) tbody.append(el('tr', {}, el('td', { colSpan: 7, class: 'muted' }, 'none yet')));
    for (const r of rows) {
      const hasClip = hasClipFor(r.device, r.id);
      const img = r.snapshot ? el('img', { src: r.snapshot, alt: `snapshot of ${r.id}` }) : el('span', { class: 'muted' }, '-');
      tbody.append(el('tr', { dataset: { device: r.device, event: r.id } },
        el('td', {}, img),
        el('td', {}, r.camera ? `${r.device} / ${r.camera}` : r.device),
        el('td', { title: r.id }, r.time ? new Date(r.time).toLocaleString() : '-'),
        el('td', {}, r.peak === null ? '-' : r.peak.toFixed(2)),
        el('td', {}, r.type || (hasClip ? 'clip' : '-')),
        el('td', { class: 'caption' }, r.caption || ''),
        el('td', {}, el('button', {
          type: 'button', class: 'play', disabled: !hasClip || !devices.get(r.device)?.online,
          title: hasClip ? (devices.get(r.device)?.online ? 'play the clip' : 'the device is offline') : 'no clip recorded yet',
          onclick: () => play(r.device, { event_id: r.id }),
        }, 'Play'))));
    }
  }

  // first words of a device's own topics; anything else after sfn/<device>/ is a camera id
  // (src/core/runtime-config.ts RESERVED_CAMERA_IDS)
  const DEVICE_WORDS = new Set(['availability', 'events', 'stats', 'config', 'snapshot', 'source', 'event', 'learn', 'cmd', 'clips', 'webrtc']);

  function deviceEntry(device) {
    let d = devices.get(device);
    if (!d) {
      d = { online: false, cameras: new Map() };
      devices.set(device, d);
    }
    d.cameras ||= new Map();
    return d;
  }

  function onMessage(topic, payload) {
    const parts = topic.split('/');
    if (parts[0] !== 'sfn' || parts.length < 3) return;
    const device = parts[1];
    // sfn/<device>/<camera>/... for a camera on its own topics, sfn/<device>/... for the device
    const camera = parts.length >= 4 && !DEVICE_WORDS.has(parts[2]) ? parts[2] : null;
    const at = camera ? 3 : 2;
    const leaf = parts.slice(at).join('/');
    const scope = camera ? `${device}/${camera}` : device;
    if (leaf === 'availability') {
      const online = new TextDecoder().decode(payload) === 'online';
      const d = deviceEntry(device);
      if (camera) d.cameras.set(camera, online);
      else {
        d.online = online;
        d.unknown = false;
      }
    } else if (leaf === 'clips') {
      const cat = parseJson(payload);
      if (!cat || !Array.isArray(cat.clips)) return;
      catalogs.set(scope, new Set(cat.clips.map((c) => c.event_id)));
      for (const c of cat.clips) {
        const r = eventRow(device, String(c.event_id));
        if (camera) r.camera = camera;
        r.time ||= String(c.time);
        if (typeof c.snapshot === 'string' && c.snapshot.startsWith('data:image/jpeg;base64,')) r.snapshot = c.snapshot;
        if (typeof c.caption === 'string') r.caption ||= c.caption;
      }
    } else if (leaf === 'events') {
      const e = parseJson(payload);
      if (!e || typeof e.id !== 'string') return;
      const r = eventRow(device, e.id);
      if (camera) r.camera = camera;
      r.type = String(e.type ?? '');
      r.time = e.start?.time ?? r.time;
      if (typeof e.peak?.score === 'number') r.peak = e.peak.score;
      if (typeof e.caption === 'string') r.caption ||= e.caption;
    } else if (parts[at] === 'events' && parts[at + 2] === 'description' && parts.length === at + 3) {
      eventRow(device, parts[at + 1]).caption = captionText(payload);
    } else if (!camera && parts[2] === 'webrtc' && state.session && parts[3] === state.session.id) {
      onSignal(parts.slice(4).join('/'), payload);
      return;
    } else return;
    deviceEntry(device);
    render();
  }

  /** Whether any clip catalogue of the device (its own or one of its cameras') lists the event. */
  function hasClipFor(device, id) {
    for (const [scope, ids] of catalogs) if ((scope === device || scope.startsWith(`${device}/`)) && ids.has(id)) return true;
    return false;
  }

  async function onSignal(leaf, payload) {
    const s = state.session;
    const msg = parseJson(payload) || {};
    if (leaf === 'answer') {
      s.answered = true;
      if (msg.error) {
        setStatus('player-status', `refused by ${s.device}: ${msg.error}`, true);
        window.sfnViewer.refused = msg.error;
        stop(false);
        return;
      }
      await s.pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
      setStatus('player-status', 'answered; connecting');
    } else if (leaf === 'candidate/device' && typeof msg.candidate === 'string') {
      await s.pc.addIceCandidate(msg).catch(() => undefined);
    } else if (leaf === 'closed') {
      setStatus('player-status', `session closed by the device: ${msg.reason ?? ''}`);
    }
  }

  async function play(device, what) {
    if (!state.client) return setStatus('player-status', 'connect to the broker first', true);
    stop();
    const token = $('token').value;
    const id = `v${Math.random().toString(36).slice(2, 12)}`;
    const base = `sfn/${device}/webrtc/${id}`;
    const pc = new RTCPeerConnection({ iceServers: state.config.iceServers || [] });
    const s = { id, device, base, pc, what, stats: null, noAnswer: null, answered: false };
    state.session = s;
    window.sfnViewer.refused = undefined;
    window.sfnViewer.stats = { framesDecoded: 0, width: 0, height: 0 };
    $('player-title').textContent = what.live ? `${device}: live view${what.overlay ? ' with the anomaly region' : ''}` : `${device}: clip of event ${what.event_id}`;
    $('player-title').className = '';
    $('stop').disabled = false;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.ontrack = (ev) => {
      const v = $('player');
      v.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      v.play().catch(() => undefined);
    };
    pc.onicecandidate = (ev) => {
      if (ev.candidate) state.client.publish(`${base}/candidate`, JSON.stringify(ev.candidate.toJSON()), { qos: 1 });
    };
    pc.onconnectionstatechange = () => {
      if (state.session !== s) return;
      setStatus('player-status', `connection ${pc.connectionState}`, pc.connectionState === 'failed');
    };
    await state.client.subscribeAsync([`${base}/answer`, `${base}/candidate/device`, `${base}/closed`], { qos: 1 });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    state.client.publish(`${base}/offer`, JSON.stringify({ token, sdp: offer.sdp, ...what }), { qos: 1 });
    setStatus('player-status', 'offer sent; waiting for the device');
    s.noAnswer = setTimeout(() => {
      if (state.session === s && !s.answered) setStatus('player-status', `no answer from ${device} within 15 s (offline, or not serving WebRTC)`, true);
    }, 15000);
    s.stats = setInterval(async () => {
      if (state.session !== s) return;
      const report = await pc.getStats();
      report.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') {
          window.sfnViewer.stats = { framesDecoded: r.framesDecoded || 0, width: r.frameWidth || 0, height: r.frameHeight || 0 };
        }
      });
      const st = window.sfnViewer.stats;
      $('player-stats').textContent = `${st.framesDecoded} frames decoded, ${st.width}x${st.height}`;
    }, 500);
  }

  function stop(tell = true) {
    const s = state.session;
    if (!s) return;
    state.session = null;
    clearInterval(s.stats);
    clearTimeout(s.noAnswer);
    if (tell && state.client) state.client.publish(`${s.base}/close`, '{}', { qos: 1 });
    state.client?.unsubscribe([`${s.base}/answer`, `${s.base}/candidate/device`, `${s.base}/closed`]);
    s.pc.close();
    $('stop').disabled = true;
  }

  function connect(ev) {
    ev?.preventDefault();
    const url = $('broker').value.trim();
    state.client?.end(true);
    devices.clear();
    events.clear();
    catalogs.clear();
    render();
    if (!mqttLib) return setStatus('conn-status', 'the MQTT client (mqtt.min.js) did not load', true);
    setStatus('conn-status', `connecting to ${url}`);
    const client = mqttLib.connect(url, { protocolVersion: 4, reconnectPeriod: 2000, clientId: `sfn-viewer-${Math.random().toString(36).slice(2, 10)}` });
    state.client = client;
    client.on('connect', () => {
      setStatus('conn-status', `connected to ${url}`);
      client.subscribe(['sfn/+/availability', 'sfn/+/clips', 'sfn/+/events', 'sfn/+/events/+/description',
        'sfn/+/+/availability', 'sfn/+/+/clips', 'sfn/+/+/events', 'sfn/+/+/events/+/description'], { qos: 1 });
    });
    client.on('error', (err) => setStatus('conn-status', `broker error: ${err.message}`, true));
    // without the broker, nothing is known of any device: no Play or Live until it says online again
    const lost = () => {
      for (const d of devices.values()) {
        d.online = false;
        d.unknown = true;
      }
      render();
    };
    client.on('offline', () => {
      setStatus('conn-status', `offline; retrying ${url}`, true);
      lost();
    });
    client.on('close', lost);
    client.on('message', onMessage);
  }

  $('connect-form').addEventListener('submit', connect);
  $('stop').addEventListener('click', () => stop());
  fetch('config.json').then((r) => r.json()).then((c) => {
    state.config = c;
    const q = new URLSearchParams(location.search);
    $('broker').value = q.get('broker') || c.broker || '';
    $('token').value = q.get('token') || c.token || '';
    if ($('broker').value) connect();
  }).catch((err) => setStatus('conn-status', `cannot load config.json: ${err.message}`, true));
})();
