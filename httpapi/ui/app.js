// The status page: everything it shows comes from the agent's event stream (/v1/events) and the
// newest frame (/v1/snapshot.jpg). No framework, no build step.
'use strict';

const MAX_RECORDS = 20;
const $ = (id) => document.getElementById(id);

function show(id, v) {
  $(id).textContent = v === undefined || v === null || v === '' ? '–' : String(v);
}

function num(v, digits, unit) {
  return typeof v === 'number' && isFinite(v) ? v.toFixed(digits) + (unit ? ' ' + unit : '') : undefined;
}

function duration(s) {
  if (typeof s !== 'number') return undefined;
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${Math.floor(s % 60)}s`;
}

function results(rec) {
  if (Array.isArray(rec.detections)) {
    return rec.detections.map((d) => ({ label: d.label || `class ${d.class}`, score: d.score }));
  }
  if (Array.isArray(rec.classes)) {
    return rec.classes.map((c) => ({ label: c.label || `class ${c.index}`, score: c.score }));
  }
  return [];
}

function summary(rec) {
  const r = results(rec);
  return r.length ? r.map((x) => `${x.label} ${x.score.toFixed(2)}`).join(', ') : 'nothing';
}

function onStatus(ev) {
  const msg = JSON.parse(ev.data);
  const st = msg.status || {};
  if (st.device) {
    show('device', st.device);
    document.title = `${st.device} · edge-agent`;
  }
  show('model', st.model);
  // Without a configured version, the start of the model's hash tells models apart.
  show('model-version', st.model_version || (st.model_sha256 || '').slice(0, 12));
  show('runtime', st.runtime);
  show('agent-version', st.agent_version);
  show('camera', st.camera);
  show('fps', num(st.fps, 1));
  show('latency', num(st.infer_ms, 1, 'ms'));
  show('backlog', st.backlog);
  const drops = Object.entries(st.drops || {}).filter(([, n]) => n > 0);
  show('drops', drops.length ? drops.map(([k, n]) => `${k} ${n}`).join(', ') : 'none');
  show('uptime', duration(st.uptime_s));

  const ready = $('ready');
  ready.textContent = msg.ready ? 'ready' : 'not ready';
  ready.className = 'badge ' + (msg.ready ? 'ok' : 'bad');
  const order = ['camera', 'model', 'store', 'broker'];
  const rank = (n) => (order.includes(n) ? order.indexOf(n) : order.length);
  const checks = Object.entries(msg.checks || {}).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
  const rows = checks.map(([name, c]) => {
    const tr = document.createElement('tr');
    tr.className = c.ready ? 'ok' : 'bad';
    for (const v of [name, c.state, c.reason || '']) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    return tr;
  });
  $('checks').replaceChildren(...rows);
}

function onRecord(ev) {
  const rec = JSON.parse(ev.data);
  const items = results(rec).map((x) => {
    const li = document.createElement('li');
    li.textContent = `${x.label} ${x.score.toFixed(2)}`;
    return li;
  });
  if (!items.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'nothing detected';
    items.push(li);
  }
  $('detections').replaceChildren(...items);

  const tr = document.createElement('tr');
  const ts = rec.ts ? new Date(rec.ts).toLocaleTimeString() : '';
  for (const v of [rec.seq ?? '', ts, summary(rec), num(rec.infer_ms, 1, 'ms') ?? '']) {
    const td = document.createElement('td');
    td.textContent = v;
    tr.append(td);
  }
  const body = $('records');
  body.prepend(tr);
  while (body.rows.length > MAX_RECORDS) body.deleteRow(-1);
}

// Frames: fetch the newest one when told there is one, one request at a time, so a slow link
// shows fewer frames instead of a growing queue.
let loading = false, again = false, shownURL = null;

async function loadFrame() {
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  try {
    const resp = await fetch('/v1/snapshot.jpg', { cache: 'no-store' });
    if (resp.ok) {
      const url = URL.createObjectURL(await resp.blob());
      const img = $('frame');
      await new Promise((ok) => { img.onload = ok; img.onerror = ok; img.src = url; });
      if (shownURL) URL.revokeObjectURL(shownURL);
      shownURL = url;
      const t = resp.headers.get('X-Frame-Time');
      $('frame-time').textContent = t ? 'captured ' + new Date(t).toLocaleTimeString() : '';
    }
  } catch (e) {
    // The next frame event tries again.
  } finally {
    loading = false;
    if (again) {
      again = false;
      loadFrame();
    }
  }
}

function connect() {
  const conn = $('conn');
  const es = new EventSource('/v1/events');
  es.addEventListener('open', () => { conn.textContent = 'live'; conn.className = 'badge ok'; });
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      conn.textContent = 'disconnected: reload the page';
    } else {
      conn.textContent = 'reconnecting…';
    }
    conn.className = 'badge bad';
  });
  es.addEventListener('status', onStatus);
  es.addEventListener('record', onRecord);
  es.addEventListener('frame', loadFrame);
}

connect();
