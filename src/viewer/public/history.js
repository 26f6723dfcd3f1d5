// sfn-edge viewer, event history: past events from a collector's HTTP API (sfn-edge collect),
// passed through by the viewer server under /history/api/... (`sfn-edge viewer --collect <url>`).
// Filters: device, camera, from/to (local time), minimum peak score; a row opens the event's
// messages and caption. Hidden when the viewer has no collector.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const text = (tag, s, cls) => { const e = document.createElement(tag); e.textContent = s; if (cls) e.className = cls; return e; };
  window.sfnHistory = { rows: [], detail: null };

  async function getJson(path) {
    const r = await fetch(path);
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
    return body;
  }

  async function search(ev) {
    if (ev) ev.preventDefault();
    const q = new URLSearchParams({ limit: '100' });
    for (const [id, name] of [['h-device', 'device'], ['h-camera', 'camera'], ['h-min-score', 'min_score']]) if ($(id).value) q.set(name, $(id).value.trim());
    for (const [id, name] of [['h-from', 'from'], ['h-to', 'to']]) if ($(id).value) q.set(name, String(new Date($(id).value).getTime()));
    const body = $('history-table').tBodies[0];
    try {
      const { events } = await getJson(`history/api/events?${q}`);
      window.sfnHistory.rows = events;
      body.replaceChildren(...(events.length ? events.map((e) => {
        const tr = document.createElement('tr');
        tr.dataset.id = e.id;
        tr.append(text('td', new Date(e.time_ms).toLocaleString()), text('td', e.device), text('td', e.camera ?? ''), text('td', e.score === null ? '' : e.score.toFixed(2)), text('td', e.type));
        tr.addEventListener('click', () => void open(e.id));
        return tr;
      }) : [(() => { const tr = document.createElement('tr'); const td = text('td', 'no events', 'muted'); td.colSpan = 5; tr.append(td); return tr; })()]));
      $('history-status').textContent = `${events.length} event(s)`;
    } catch (err) {
      $('history-status').textContent = `history: ${err.message}`;
    }
  }

  async function open(id) {
    try {
      const d = await getJson(`history/api/events/${encodeURIComponent(id)}`);
      window.sfnHistory.detail = d;
      const caption = d.descriptions.map((x) => x.caption).filter(Boolean).join(' / ') || '(no caption)';
      $('history-detail').replaceChildren(text('div', `${d.device} · ${id}`), text('div', `${d.messages.length} message(s): ${d.messages.map((m) => `${m.type} #${m.seq}`).join(', ')}`), text('div', caption, 'caption'), text('div', d.clip ? `clip: ${d.clip.video}` : 'no clip', 'muted'));
    } catch (err) {
      $('history-detail').textContent = `event ${id}: ${err.message}`;
    }
  }

  fetch('config.json').then((r) => r.json()).then((c) => {
    if (!c.history) return;
    $('history').hidden = false;
    $('history-form').addEventListener('submit', search);
    void search();
  }).catch(() => undefined);
})();
