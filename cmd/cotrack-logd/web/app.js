// cotrack console: draws /api/graph as SVG, pages /api/flows, shows
// /api/health.  Every string from the server (VM, comm, cgroup, DNS
// names: guest-controlled) is inserted with textContent or as an SVG
// text node, never as markup.
'use strict';

const SVGNS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);

const state = {
  hidden: [],          // node ids hidden from the map
  sel: null,           // {kind: 'node'|'edge', node, peer, port, proto, label}
  sort: 'first_ns',
  dir: 'desc',
  offset: 0,
  limit: 50,
  total: 0,
  timer: null,
  busy: false,
  again: false,        // a refresh was asked for while one ran
  zoom: 1,
  last: null,          // the last graph drawn (zoom redraws it)
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function sv(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  return e;
}

function status(msg, bad) {
  const s = $('status');
  s.textContent = msg;
  s.className = bad ? 'err' : '';
}

// --- the time window and the filters -------------------------------

function windowParams(p) {
  const preset = $('w-preset').value;
  const back = Number($('w-slide').value);
  if (preset === 'all') return;
  if (preset === 'custom') {
    const f = Date.parse($('w-from').value), t = Date.parse($('w-to').value);
    if (!isNaN(f)) p.set('from', (BigInt(f) * 1000000n).toString());
    if (!isNaN(t)) p.set('to', (BigInt(t) * 1000000n).toString());
    return;
  }
  const len = Number(preset);
  if (back === 0) {
    p.set('last', String(len));
    return;
  }
  // the slider moves the window back by whole window lengths
  const to = Date.now() - back * len * 1000;
  p.set('from', (BigInt(to - len * 1000) * 1000000n).toString());
  p.set('to', (BigInt(to) * 1000000n).toString());
}

function filterParams() {
  const p = new URLSearchParams();
  windowParams(p);
  const vm = $('f-vm').value.trim(), proto = $('f-proto').value;
  const port = $('f-port').value.trim(), addr = $('f-addr').value.trim();
  if (vm) p.set('vm', vm);
  if (proto) p.set('proto', proto);
  if (port) p.set('port', port);
  if (addr) p.set('addr', addr);
  return p;
}

function slideLabel() {
  const preset = $('w-preset').value, back = Number($('w-slide').value);
  const len = Number(preset);
  const on = preset !== 'all' && preset !== 'custom';
  $('w-slide').disabled = !on;
  $('w-custom').hidden = preset !== 'custom';
  if (!on || back === 0) {
    $('w-slide-v').textContent = 'now';
    return;
  }
  const s = back * len;
  $('w-slide-v').textContent = s >= 86400 ? (s / 86400) + ' d ago'
    : s >= 3600 ? (s / 3600) + ' h ago' : (s / 60) + ' min ago';
}

async function api(path, params) {
  const r = await fetch(path + '?' + params.toString(),
    { credentials: 'same-origin', cache: 'no-store' });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.error) || ('HTTP ' + r.status));
  return body;
}

// --- the map ---------------------------------------------------------

function human(v) {
  if (v >= 1e10) return (v / 1e9).toFixed(1) + ' GB';
  if (v >= 1e7) return (v / 1e6).toFixed(1) + ' MB';
  if (v >= 1e4) return (v / 1e3).toFixed(1) + ' kB';
  return v + ' B';
}

function clip(s, n) {
  s = String(s);
  return s.length > n ? s.slice(0, n - 1) + '\u2026' : s;
}

function drawMap(g) {
  state.last = g;
  const svg = $('map');
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = Math.max(g.width || 0, 200), H = Math.max(g.height || 0, 100);
  // fit the panel (but not below 0.6: then it scrolls), times the zoom
  const aw = Math.max(300, $('map-wrap').clientWidth - 4);
  const ah = Math.max(200, $('map-wrap').clientHeight - 4);
  const fit = Math.max(0.6, Math.min(1.2, aw / (W + 20), ah / (H + 20)));
  const scale = fit * state.zoom;
  svg.setAttribute('viewBox', `-10 -10 ${W + 20} ${H + 20}`);
  svg.setAttribute('width', Math.round((W + 20) * scale));
  svg.setAttribute('height', Math.round((H + 20) * scale));
  const labels = g.edges.length <= 40;
  const defs = sv('defs', {});
  const m = sv('marker', { id: 'arr', viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  m.appendChild(sv('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }));
  defs.appendChild(m);
  svg.appendChild(defs);

  const vms = $('vms');
  while (vms.firstChild) vms.removeChild(vms.firstChild);
  for (const c of g.clusters || []) {
    const grp = sv('g', { class: 'cluster' });
    grp.dataset.vm = c.vm;
    grp.appendChild(sv('rect', { x: c.x, y: c.y, width: c.w, height: c.h, rx: 8 }));
    const t = sv('text', { x: c.x + 8, y: c.y + 15 });
    t.textContent = 'VM ' + c.vm;
    grp.appendChild(t);
    svg.appendChild(grp);
    const o = document.createElement('option');
    o.value = c.vm;
    vms.appendChild(o);
  }
  const byId = new Map();
  for (const n of g.nodes) byId.set(n.id, n);
  g.edges.forEach((e) => {
    const grp = sv('g', { class: 'edge' });
    grp.dataset.source = e.source;
    grp.dataset.target = e.target;
    let d = '';
    const p = e.path || [];
    if (p.length >= 8 && p.length % 2 === 0) {
      // dot's B-spline control points: start, then triples; the last
      // point is the arrow's tip
      const pts = [];
      for (let i = 0; i + 1 < p.length; i += 2) pts.push([p[i], p[i + 1]]);
      const tip = pts.length % 3 === 2 ? pts.pop() : null;
      d = `M${pts[0][0]},${pts[0][1]}`;
      for (let i = 1; i + 2 < pts.length; i += 3) {
        d += ` C${pts[i][0]},${pts[i][1]} ${pts[i + 1][0]},${pts[i + 1][1]} ${pts[i + 2][0]},${pts[i + 2][1]}`;
      }
      if (tip) d += ` L${tip[0]},${tip[1]}`;
    } else {
      const a = byId.get(e.source), b = byId.get(e.target);
      if (!a || !b || a.x === undefined) return;
      d = `M${a.x + a.w / 2},${a.y} L${b.x - b.w / 2},${b.y}`;
    }
    const width = 1 + Math.min(4, Math.log1p(e.conns) / 2);
    grp.appendChild(sv('path', { d, class: 'line', 'stroke-width': width.toFixed(2),
      'marker-end': 'url(#arr)' }));
    const hit = sv('path', { d, class: 'hit' });
    grp.appendChild(hit);
    let lx = e.label_x, ly = e.label_y;
    if (lx === undefined && p.length >= 8) {
      // the middle of the spline: its middle control point, near enough
      const k = Math.floor(p.length / 4) * 2;
      lx = p[k];
      ly = p[k + 1];
    }
    if (labels && lx !== undefined) {
      const t1 = sv('text', { x: lx, y: ly - 2, 'text-anchor': 'middle' });
      t1.textContent = e.mainStat + (e.name ? ' (' + clip(e.name, 40) + ')' : '');
      const t2 = sv('text', { x: lx, y: ly + 9, 'text-anchor': 'middle' });
      t2.textContent = `${e.conns} conn, ${human(e.bytes_fwd)} > / ${human(e.bytes_rev)} <`;
      grp.appendChild(t1);
      grp.appendChild(t2);
    }
    const title = sv('title', {});
    title.textContent = `${e.mainStat}: ${e.secondaryStat}; seen nic ${e.seen_by.nic}, vmi ${e.seen_by.vmi}, both ${e.seen_by.both}`;
    grp.appendChild(title);
    grp.addEventListener('click', () => select({ kind: 'edge', node: e.source,
      peer: e.target, port: e.port, proto: e.proto,
      label: `${clip(byId.get(e.source).title, 30)} \u2192 ${clip(byId.get(e.target).title, 30)} ${e.mainStat}` }));
    if (state.sel && state.sel.kind === 'edge' && state.sel.node === e.source &&
        state.sel.peer === e.target && state.sel.port === e.port) grp.classList.add('sel');
    svg.appendChild(grp);
  });
  for (const n of g.nodes) {
    if (n.x === undefined) continue;
    const grp = sv('g', { class: 'node ' + n.kind });
    grp.dataset.id = n.id;
    grp.appendChild(sv('rect', { x: n.x - n.w / 2, y: n.y - n.h / 2, width: n.w,
      height: n.h, rx: n.kind === 'workload' ? 6 : 14 }));
    const t = sv('text', { x: n.x, y: n.subTitle && n.kind === 'workload' ? n.y - 3 : n.y + 4,
      'text-anchor': 'middle' });
    t.textContent = clip(n.title, 48);
    grp.appendChild(t);
    if (n.subTitle && n.kind === 'workload') {
      const s = sv('text', { x: n.x, y: n.y + 11, 'text-anchor': 'middle', class: 'sub' });
      s.textContent = clip(n.subTitle, 48);
      grp.appendChild(s);
    }
    const title = sv('title', {});
    title.textContent = `${n.title}${n.vm ? ' (VM ' + n.vm + ')' : ''}: ${n.mainStat}, ${n.secondaryStat}`;
    grp.appendChild(title);
    grp.addEventListener('click', (ev) => {
      if (ev.shiftKey) { hide(n.id); return; }
      select({ kind: 'node', node: n.id, label: n.title + (n.vm ? ' @' + n.vm : '') });
    });
    if (state.sel && state.sel.kind === 'node' && state.sel.node === n.id) grp.classList.add('sel');
    svg.appendChild(grp);
  }
  $('map-info').textContent = `${g.nodes.length} nodes, ${g.edges.length} edges, ` +
    `${g.shown_conns} of ${g.total_conns} connections` +
    (g.hidden_conns ? ` (${g.hidden_conns} hidden)` : '');
  $('hidden-box').hidden = state.hidden.length === 0;
  $('hidden-n').textContent = String(state.hidden.length);
}

function select(s) {
  state.sel = s;
  state.offset = 0;
  $('sel').hidden = false;
  $('sel-name').textContent = s.label;
  $('sel-hide').hidden = s.kind !== 'node';
  refresh();
}

function hide(id) {
  if (!state.hidden.includes(id)) state.hidden.push(id);
  if (state.sel && (state.sel.node === id || state.sel.peer === id)) clearSel();
  refresh();
}

function clearSel() {
  state.sel = null;
  $('sel').hidden = true;
  state.offset = 0;
}

// --- flows -----------------------------------------------------------

function fmtTime(ns) {
  const d = new Date(Number(ns) / 1e6);
  return isNaN(d) ? '?' : d.toISOString().replace('T', ' ').slice(0, 23);
}

function owner(r, end) {
  const comm = r[end + '_comm'], cg = r[end + '_cgroup'];
  if (r[end + '_pid'] === null) return '';
  return comm + (cg ? ' ' + cg : '') + ' [' + r[end + '_pid'] + ']';
}

function drawFlows(f) {
  const tb = $('flows').tBodies[0];
  while (tb.firstChild) tb.removeChild(tb.firstChild);
  for (const r of f.rows) {
    const tr = el('tr');
    tr.dataset.seq = r.seq;
    tr.dataset.tracker = r.tracker;
    const cells = [
      [fmtTime(r.first_ns)], [r.vm], [r.proto], [r.src], [r.sport, 'num'],
      [r.dst], [r.dport, 'num'],
      [[owner(r, 'src'), owner(r, 'dst')].filter(Boolean).join(' \u2192 ')],
      [[r.src_name, r.dst_name].filter(Boolean).join(' \u2192 ')],
      [r.pkts_fwd, 'num'], [r.bytes_fwd, 'num'], [r.pkts_rev, 'num'],
      [r.bytes_rev, 'num'], [r.seen_by], [r.end], [r.tracker], [r.seq, 'num'],
      [r.chain, 'chain-' + r.chain.split(' ')[0]],
    ];
    for (const [v, cls] of cells) tr.appendChild(el('td', cls || '', v));
    tr.title = `stream ${r.stream}, stored ${fmtTime(r.stored_ns)}, tcp ${r.tcp_state}`;
    tb.appendChild(tr);
  }
  state.total = f.total;
  $('total').textContent = f.total_more ? `more than ${f.total - 1}` : String(f.total);
  const a = f.total ? f.offset + 1 : 0, b = f.offset + f.rows.length;
  $('page').textContent = `${a}\u2013${b}`;
  $('prev').disabled = f.offset === 0;
  $('next').disabled = b >= f.total;
  for (const th of $('flows').tHead.rows[0].cells) {
    th.classList.remove('asc', 'desc');
    if (th.dataset.sort === state.sort) th.classList.add(state.dir);
  }
  $('flow-filter').textContent = state.sel ? 'only: ' + state.sel.label : '';
}

// --- health ----------------------------------------------------------

function drawHealth(h) {
  const tb = $('health').tBodies[0];
  while (tb.firstChild) tb.removeChild(tb.firstChild);
  for (const t of h.trackers) {
    const tr = el('tr');
    tr.appendChild(el('td', '', t.tracker));
    tr.appendChild(el('td', '', t.last_seq));
    tr.appendChild(el('td', '', t.last_stored_ns === null ? '-' : fmtTime(t.last_stored_ns).slice(11)));
    tr.appendChild(el('td', t.gaps ? 'bad' : '', t.gaps));
    tr.appendChild(el('td', t.anomalies ? 'bad' : '', t.anomalies));
    tr.appendChild(el('td', '', t.records_per_s.toFixed(1)));
    tb.appendChild(tr);
  }
  const ev = Object.entries(h.events || {}).map(([k, v]) => k + ' ' + v).join(', ');
  $('health-sum').textContent = `${h.records} records, ${h.records_per_s.toFixed(1)} records/s over the last minute; events: ${ev || 'none'}`;
}

// --- refresh ---------------------------------------------------------

async function refresh() {
  if (state.busy) {
    state.again = true;
    return;
  }
  state.busy = true;
  state.again = false;
  document.body.dataset.busy = '1';
  try {
    const base = filterParams();
    const gp = new URLSearchParams(base);
    for (const h of state.hidden) gp.append('hide', h);
    const fp = new URLSearchParams(base);
    fp.set('sort', state.sort);
    fp.set('dir', state.dir);
    fp.set('offset', String(state.offset));
    fp.set('limit', String(state.limit));
    const q = $('search').value.trim();
    if (q) fp.set('q', q);
    if (state.sel) {
      fp.set('node', state.sel.node);
      if (state.sel.peer) fp.set('peer', state.sel.peer);
      if (state.sel.kind === 'edge') {
        fp.set('port', String(state.sel.port));
        fp.set('proto', state.sel.proto);
      }
    }
    const [g, f, h] = await Promise.all([api('/api/graph', gp),
      api('/api/flows', fp), api('/api/health', new URLSearchParams())]);
    drawMap(g);
    drawFlows(f);
    drawHealth(h);
    status('updated ' + new Date().toLocaleTimeString());
    if (!state.again)
      document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (e) {
    status(String(e.message || e), true);
  } finally {
    state.busy = false;
    document.body.dataset.busy = '';
  }
  if (state.again) refresh();
}

function live() {
  if (state.timer) clearInterval(state.timer);
  state.timer = $('live').checked ? setInterval(refresh, 5000) : null;
}

function init() {
  $('apply').addEventListener('click', () => { state.offset = 0; refresh(); });
  for (const id of ['f-vm', 'f-port', 'f-addr', 'search'])
    $(id).addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { state.offset = 0; refresh(); }
    });
  $('f-proto').addEventListener('change', () => { state.offset = 0; refresh(); });
  $('w-preset').addEventListener('change', () => { slideLabel(); state.offset = 0; refresh(); });
  $('w-from').addEventListener('change', refresh);
  $('w-to').addEventListener('change', refresh);
  $('w-slide').addEventListener('input', slideLabel);
  $('w-slide').addEventListener('change', () => { state.offset = 0; refresh(); });
  $('live').addEventListener('change', live);
  $('prev').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - state.limit); refresh();
  });
  $('next').addEventListener('click', () => {
    if (state.offset + state.limit < state.total) state.offset += state.limit;
    refresh();
  });
  $('zoom-in').addEventListener('click', () => {
    state.zoom = Math.min(4, state.zoom * 1.25);
    if (state.last) drawMap(state.last);
  });
  $('zoom-out').addEventListener('click', () => {
    state.zoom = Math.max(0.25, state.zoom / 1.25);
    if (state.last) drawMap(state.last);
  });
  $('sel-clear').addEventListener('click', () => { clearSel(); refresh(); });
  $('sel-hide').addEventListener('click', () => { if (state.sel) hide(state.sel.node); });
  $('unhide').addEventListener('click', () => { state.hidden = []; refresh(); });
  for (const th of $('flows').tHead.rows[0].cells) {
    if (!th.dataset.sort) continue;
    th.addEventListener('click', () => {
      if (state.sort === th.dataset.sort) state.dir = state.dir === 'asc' ? 'desc' : 'asc';
      else { state.sort = th.dataset.sort; state.dir = 'desc'; }
      state.offset = 0;
      refresh();
    });
  }
  slideLabel();
  live();
  refresh();
}

document.addEventListener('DOMContentLoaded', init);
