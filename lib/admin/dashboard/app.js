// switchyard live dashboard: one WebSocket (/live, "switchyard-live"), one
// JSON frame per interval (schema: lib/admin/README.md). Rows are created
// once per endpoint and updated in place; nothing is re-rendered wholesale.
'use strict';
(function () {
  const MAX_DECISIONS = 50;
  const STALE_MS = 2000;
  const $ = (id) => document.getElementById(id);
  const epBody = document.querySelector('#endpoints tbody');
  const errBody = document.querySelector('#errors tbody');
  const routeBody = document.querySelector('#routes tbody');
  const decBody = document.querySelector('#decisions tbody');
  const rows = new Map();   // "ns/pool/name" → {tr, cells}
  const errRows = new Map();
  let frames = 0;

  function setText(el, v) { v = String(v); if (el.textContent !== v) el.textContent = v; }
  function num(v, digits) { return typeof v === 'number' && isFinite(v) ? v.toFixed(digits) : '–'; }
  function pct(v) { return typeof v === 'number' && isFinite(v) ? (v * 100).toFixed(0) + '%' : '–'; }

  function endpointRow(key) {
    let r = rows.get(key);
    if (r) return r;
    const tr = document.createElement('tr');
    tr.dataset.key = key;
    const c = {};
    for (const f of ['pool', 'name', 'address', 'waiting', 'running', 'kv', 'in_flight', 'prefix', 'stale']) {
      const td = document.createElement('td');
      td.className = f;
      if (['waiting', 'running', 'in_flight', 'prefix', 'stale'].includes(f)) td.classList.add('n');
      tr.appendChild(td);
      c[f] = td;
    }
    const bar = document.createElement('span'); bar.className = 'kv';
    const fill = document.createElement('i'); bar.appendChild(fill);
    const kvt = document.createElement('span'); kvt.className = 'kvt';
    c.kv.append(bar, kvt);
    c.bar = bar; c.fill = fill; c.kvt = kvt;
    r = { tr, c, seen: 0 };
    rows.set(key, r);
    epBody.appendChild(tr);
    return r;
  }

  function renderEndpoints(pools) {
    let n = 0;
    for (const p of pools || []) {
      const pool = (p.namespace ? p.namespace + '/' : '') + (p.name || '');
      for (const e of p.endpoints || []) {
        const r = endpointRow(pool + '|' + e.name);
        r.seen = frames;
        const c = r.c;
        setText(c.pool, pool);
        setText(c.name, e.name);
        setText(c.address, e.address || '');
        setText(c.waiting, e.waiting ?? '–');
        setText(c.running, e.running ?? '–');
        const kv = typeof e.kv_usage === 'number' ? Math.max(0, Math.min(1, e.kv_usage)) : 0;
        c.fill.style.width = (kv * 100).toFixed(1) + '%';
        c.bar.className = 'kv' + (kv >= 0.95 ? ' full' : kv >= 0.8 ? ' hot' : '');
        setText(c.kvt, pct(e.kv_usage));
        setText(c.in_flight, e.in_flight ?? '–');
        setText(c.prefix, pct(e.prefix_hit_rate));
        setText(c.stale, typeof e.stale_ms === 'number' ? e.stale_ms + ' ms' : '–');
        c.stale.classList.toggle('stale', (e.stale_ms || 0) > STALE_MS);
        n++;
      }
    }
    for (const [k, r] of rows) {  // endpoints that left the snapshot
      if (r.seen !== frames) { r.tr.remove(); rows.delete(k); }
    }
    setText($('nendpoints'), n);
    // One pool (the usual case): the pool column is noise.
    $('endpoints').classList.toggle('onepool', (pools || []).length <= 1);
  }

  function renderErrors(errs) {
    const codes = Object.keys(errs || {}).sort();
    for (const code of codes) {
      let r = errRows.get(code);
      if (!r) {
        const tr = document.createElement('tr');
        const a = document.createElement('td'), b = document.createElement('td');
        b.className = 'n'; a.textContent = code;
        tr.append(a, b); errBody.appendChild(tr);
        r = { tr, count: b }; errRows.set(code, r);
      }
      setText(r.count, errs[code]);
    }
    for (const [code, r] of errRows) if (!(code in errs)) { r.tr.remove(); errRows.delete(code); }
  }

  let lastRoutes = '';
  function renderRoutes(routes) {
    const s = JSON.stringify(routes || []);
    if (s === lastRoutes) return;  // rarely changes: rebuild only on change
    lastRoutes = s;
    routeBody.replaceChildren();
    for (const r of routes || []) {
      const tr = document.createElement('tr');
      for (const v of [r.name, r.match, r.pool]) {
        const td = document.createElement('td'); td.textContent = v ?? ''; tr.appendChild(td);
      }
      routeBody.appendChild(tr);
    }
    $('noroutes').hidden = (routes || []).length > 0;
  }

  const seenDecisions = new Set();
  function renderDecisions(list) {
    // Newest first in the table; frames carry the latest N, oldest first.
    for (const d of list || []) {
      const id = d.request_id;
      if (!id || seenDecisions.has(id)) continue;
      seenDecisions.add(id);
      const tr = document.createElement('tr');
      tr.dataset.id = id;
      const a = document.createElement('td'), b = document.createElement('td'), c = document.createElement('td');
      a.textContent = id.length > 13 ? id.slice(0, 13) + '…' : id;
      a.title = id;
      b.textContent = d.endpoint || (d.error ? 'error ' + d.error : '–');
      c.className = 'scores';
      c.textContent = Object.entries(d.scores || {}).map(([k, v]) => k + ' ' + num(v, 2)).join('  ');
      tr.append(a, b, c);
      decBody.insertBefore(tr, decBody.firstChild);
    }
    while (decBody.children.length > MAX_DECISIONS) {
      const last = decBody.lastChild;
      seenDecisions.delete(last.dataset.id);
      last.remove();
    }
  }

  function onFrame(f) {
    frames++;
    setText($('dps'), num(f.decisions_per_sec, 1));
    setText($('ts'), typeof f.ts === 'number' ? new Date(f.ts * 1000).toLocaleTimeString() : '–');
    renderEndpoints(f.pools);
    renderErrors(f.errors_by_code || {});
    renderRoutes(f.routes);
    renderDecisions(f.recent_decisions);
    document.body.dataset.frames = String(frames);
  }

  const frameMs = [];
  window.__syFrameMs = frameMs;
  let retry = 500;
  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = new URLSearchParams(location.hash.slice(1)).get('token');
    const url = proto + '//' + location.host + '/live' + (token ? '?token=' + encodeURIComponent(token) : '');
    const ws = new WebSocket(url, 'switchyard-live');
    const conn = $('conn');
    ws.onopen = () => { retry = 500; conn.textContent = 'live'; conn.className = 'conn up'; };
    ws.onmessage = (ev) => {
      const t0 = performance.now();
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
      // Parse + DOM update time per frame, last 200 kept (read by the
      // browser test: the page must stay smooth with many endpoints).
      frameMs.push(performance.now() - t0);
      if (frameMs.length > 200) frameMs.shift();
    };
    ws.onclose = () => {
      conn.textContent = 'disconnected'; conn.className = 'conn down';
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  connect();
})();
