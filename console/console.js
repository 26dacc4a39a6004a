// The mies console: polls the management plane's /v1/cluster and /metrics-json, draws the
// ranktable and live charts as SVG, lists the recent cluster events and streams completions
// from the service plane (CORS) in the playground. No framework, no outside network.
'use strict';

const POLL_MS = 1500;
const WINDOW_MS = 120000;
const SVG_NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#0b5cad', '#c2410c', '#15803d', '#7c3aed'];

const $ = (id) => document.getElementById(id);
const samples = [];  // {t, running, waiting, tps, ttft: {p50..}, itl: {p50..}, kvUsed, kvTotal}
let lastTokens = null;  // {t, total}
let lastState = null;
let lastEventSeq = 0;
let serviceUrl = null;
let modelName = null;
let lastNodes = null;

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function bytes(n) {
  if (n === null || n === undefined) return 'unknown';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

function ago(ms) {
  if (ms === null || ms === undefined) return '—';
  return ms < 1000 ? `${ms} ms ago` : `${(ms / 1000).toFixed(1)} s ago`;
}

function announce(text) {
  $('announce').textContent = text;
}

function showError(text) {
  const e = $('error');
  if (text) { e.textContent = text; e.hidden = false; } else { e.hidden = true; }
}

// --- the cluster ---------------------------------------------------------------------------

function renderRanktable(nodes) {
  const root = $('ranktable');
  root.replaceChildren();
  const boxW = 170, gap = 20, pad = 10;
  const maxRanks = Math.max(1, ...nodes.map((n) => n.ranks.length));
  const perRow = 4;
  const rankRows = Math.ceil(maxRanks / perRow);
  const boxH = 62 + rankRows * 30;
  // As many node boxes per row as the figure's width holds at about their natural size, so a
  // narrow window stacks them instead of shrinking them.
  const avail = root.parentElement ? root.parentElement.clientWidth : 600;
  const cols = Math.max(1, Math.min(nodes.length, Math.floor((avail - pad) / (boxW + gap))));
  const rows = Math.ceil(nodes.length / cols);
  const width = pad * 2 + cols * (boxW + gap) - gap;
  const height = pad * 2 + rows * (boxH + gap) - gap;
  root.setAttribute('viewBox', `0 0 ${width} ${height}`);
  root.style.maxWidth = `${width}px`;
  root.style.maxHeight = 'none';
  const labels = [];
  nodes.forEach((n, i) => {
    const col = i % cols, row = Math.floor(i / cols);
    const x = pad + col * (boxW + gap), y = pad + row * (boxH + gap);
    const g = svg('g', {'data-node': n.address});
    g.append(svg('rect', {x, y, width: boxW, height: boxH, rx: 8,
                          class: `node-box ${n.status}`}));
    g.append(svg('text', {x: x + 8, y: y + 18}, n.address));
    g.append(svg('text', {x: x + 8, y: y + 34, class: 'small'},
                 `${n.role === 'master' ? '★ master' : 'slave'} · ${n.status}`));
    n.ranks.forEach((r, j) => {
      const rx = x + 8 + (j % perRow) * 39, ry = y + 44 + Math.floor(j / perRow) * 30;
      g.append(svg('rect', {x: rx, y: ry, width: 35, height: 24, rx: 3, class: 'rank-box'}));
      g.append(svg('text', {x: rx + 4, y: ry + 11, class: 'small'}, `r${r}`));
      g.append(svg('text', {x: rx + 4, y: ry + 21, class: 'small'}, `d${n.deviceIds[j]}`));
    });
    if (col > 0) {
      g.append(svg('line', {x1: x - gap, y1: y + boxH / 2, x2: x, y2: y + boxH / 2,
                            class: 'axis', 'stroke-width': 2}));
    }
    root.append(g);
    labels.push(`${n.address} (${n.role}, ranks ${n.ranks.join(', ')}, ${n.status})`);
  });
  root.setAttribute('aria-label', `Ranktable: ${labels.join('; ')}`);
}

function renderNodes(cluster) {
  const body = $('nodes').tBodies[0];
  body.replaceChildren();
  for (const n of cluster.nodes) {
    const tr = el('tr', {'data-node': n.address, 'data-status': n.status, 'data-role': n.role});
    const th = el('th', {scope: 'row'}, n.address);
    tr.append(th);
    tr.append(el('td', {}, n.role === 'master' ? 'master ★' : 'slave'));
    tr.append(el('td', {}, n.ranks.join(', ')));
    tr.append(el('td', {}, n.deviceIds.join(', ')));
    const st = el('td', {class: 'status'}, n.status);
    if (n.lostReason && n.status !== 'healthy') st.textContent += ` (${n.lostReason})`;
    tr.append(st);
    tr.append(el('td', {}, n.role === 'master' ? 'this node' : ago(n.msSinceHeartbeat)));
    tr.append(el('td', {}, bytes(n.rssBytes)));
    tr.append(el('td', {}, bytes(n.kvPoolBytes)));
    body.append(tr);
  }
  renderRanktable(cluster.nodes);
  lastNodes = cluster.nodes;
}

function renderModel(cluster) {
  const m = cluster.model;
  const facts = [
    ['Model', m.name],
    ['Architecture', m.architecture || 'unknown'],
    ['Weights', m.dtype],
    ['World size', m.worldSize],
    ['Tensor parallel', m.tp],
    ['Expert parallel', m.moe ? (m.expertParallel ? `yes (${m.moeEp} groups)` : 'no') : 'not MoE'],
    ['KV blocks per rank', `${m.kvBlocksPerRank} × ${m.blockSize} tokens`],
    ['KV pool per rank', bytes(m.kvPoolBytesPerRank)],
    ['Max sequence', m.maxSeqLen],
  ];
  const dl = $('model');
  dl.replaceChildren();
  for (const [k, v] of facts) {
    const div = el('div');
    div.append(el('dt', {}, k), el('dd', {}, String(v)));
    dl.append(div);
  }
}

function renderEvents(events) {
  const ol = $('events');
  ol.replaceChildren();
  for (const e of [...events].reverse()) {
    const li = el('li', {class: e.error ? 'event error' : 'event', 'data-kind': e.kind,
                         'data-node': e.node || ''});
    const t = new Date(e.time);
    li.append(el('time', {datetime: t.toISOString()}, t.toLocaleTimeString()));
    li.append(document.createTextNode(e.message));
    ol.append(li);
  }
  const newest = events.length ? events[events.length - 1].seq : 0;
  if (newest > lastEventSeq && lastEventSeq !== 0) {
    const fresh = events.filter((e) => e.seq > lastEventSeq).map((e) => e.message);
    announce(fresh.join('. '));
  }
  lastEventSeq = newest;
}

function renderCluster(cluster) {
  const badge = $('cluster-state');
  badge.textContent = cluster.state;
  badge.dataset.state = cluster.state;
  $('cluster-epoch').textContent = cluster.state === 'single' ? '' : `epoch ${cluster.epoch}`;
  if (lastState !== null && lastState !== cluster.state) {
    announce(`Cluster state changed to ${cluster.state}`);
  }
  lastState = cluster.state;
  $('version').textContent = cluster.version || '';
  modelName = cluster.model.name;
  serviceUrl = cluster.serviceUrl;
  if (serviceUrl) {
    // A service plane on every interface: call it on the host this page came from.
    serviceUrl = serviceUrl.replace(/\/\/(0\.0\.0\.0|\[::\])(:\d+)$/, `//${location.hostname}$2`);
  }
  $('service-url').textContent = serviceUrl || 'unknown';
  renderNodes(cluster);
  renderModel(cluster);
  renderEvents(cluster.events);
}

// --- live charts ---------------------------------------------------------------------------

function addSample(metrics, now) {
  const m = metrics.mies;
  if (!m) return;
  let tps = null;
  if (lastTokens) {
    const dt = (now - lastTokens.t) / 1000;
    if (dt > 0) tps = Math.max(0, (m.generationTokensTotal - lastTokens.total) / dt);
  }
  lastTokens = {t: now, total: m.generationTokensTotal};
  samples.push({t: now, running: m.running, waiting: m.waiting, tps, ttft: m.ttftMs,
                itl: m.interTokenMs, kvUsed: m.kvBlocksUsed, kvTotal: m.kvBlocksTotal});
  while (samples.length && samples[0].t < now - WINDOW_MS) samples.shift();
}

function drawChart(id, title, unit, series) {
  const fig = $(id);
  const W = 340, H = 150, L = 44, B = 18, T = 8;
  const now = samples.length ? samples[samples.length - 1].t : Date.now();
  let max = 0;
  for (const s of series) {
    for (const p of samples) {
      const v = s.get(p);
      if (v !== null && v !== undefined && v > max) max = v;
    }
  }
  if (max <= 0) max = 1;
  const chart = svg('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', preserveAspectRatio: 'none'});
  chart.append(svg('line', {x1: L, y1: H - B, x2: W, y2: H - B, class: 'axis'}));
  chart.append(svg('line', {x1: L, y1: T, x2: L, y2: H - B, class: 'axis'}));
  chart.append(svg('text', {x: 2, y: T + 10, class: 'small'}, fmt(max)));
  chart.append(svg('text', {x: 2, y: H - B, class: 'small'}, '0'));
  chart.append(svg('text', {x: L, y: H - 4, class: 'small'}, '−2 min'));
  chart.append(svg('text', {x: W - 30, y: H - 4, class: 'small'}, 'now'));
  const xOf = (t) => L + (W - L) * (1 - (now - t) / WINDOW_MS);
  const yOf = (v) => H - B - (H - B - T) * (v / max);
  const latest = [];
  series.forEach((s, i) => {
    let d = '';
    let pen = false;
    let last = null;
    for (const p of samples) {
      const v = s.get(p);
      if (v === null || v === undefined) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${xOf(p.t).toFixed(1)},${yOf(v).toFixed(1)} `;
      pen = true;
      last = v;
    }
    if (d) {
      chart.append(svg('path', {d, fill: 'none', stroke: COLORS[i % COLORS.length],
                                'stroke-width': 2}));
    }
    latest.push(`${s.name} ${last === null ? 'no data' : fmt(last) + unit}`);
  });
  const label = `${title}: ${latest.join(', ')}`;
  chart.setAttribute('aria-label', label);
  const legend = el('ul', {class: 'legend', 'aria-hidden': 'true'});
  series.forEach((s, i) => {
    const li = el('li');
    const sw = el('span');
    sw.style.background = COLORS[i % COLORS.length];
    li.append(sw, document.createTextNode(s.name));
    legend.append(li);
  });
  const cap = el('figcaption', {}, label);
  fig.replaceChildren(chart, legend, cap);
}

function fmt(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2).replace(/\.?0+$/, '') || '0';
}

function drawCharts() {
  drawChart('chart-requests', 'Requests', '', [
    {name: 'running', get: (p) => p.running},
    {name: 'waiting', get: (p) => p.waiting},
  ]);
  drawChart('chart-tokens', 'Generated tokens/s', ' tok/s', [
    {name: 'tokens/s', get: (p) => p.tps},
  ]);
  const pct = (key, q) => (p) => (p[key] ? p[key][q] : null);
  drawChart('chart-ttft', 'Time to first token', ' ms', [
    {name: 'p50', get: pct('ttft', 'p50')},
    {name: 'p90', get: pct('ttft', 'p90')},
    {name: 'p99', get: pct('ttft', 'p99')},
  ]);
  drawChart('chart-itl', 'Inter-token latency', ' ms', [
    {name: 'p50', get: pct('itl', 'p50')},
    {name: 'p90', get: pct('itl', 'p90')},
    {name: 'p99', get: pct('itl', 'p99')},
  ]);
  drawChart('chart-kv', 'KV blocks used', ' blocks', [
    {name: 'used', get: (p) => p.kvUsed},
    {name: 'total', get: (p) => p.kvTotal},
  ]);
}

// --- polling -------------------------------------------------------------------------------

async function getJson(path) {
  const r = await fetch(path, {cache: 'no-store', credentials: 'same-origin'});
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function poll() {
  try {
    const [cluster, metrics] = await Promise.all([getJson('/v1/cluster'),
                                                  getJson('/metrics-json')]);
    renderCluster(cluster);
    addSample(metrics, Date.now());
    drawCharts();
    showError('');
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = 'true';
  } catch (e) {
    const badge = $('cluster-state');
    if (badge.dataset.state !== 'unreachable') announce('The management plane is unreachable');
    badge.textContent = 'unreachable';
    badge.dataset.state = 'unreachable';
    showError(`Cannot reach the management plane: ${e.message}`);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// --- playground ----------------------------------------------------------------------------

let controller = null;

async function generate(ev) {
  ev.preventDefault();
  if (!serviceUrl) { $('play-status').textContent = 'The service URL is not known yet.'; return; }
  const out = $('output');
  out.textContent = '';
  const status = $('play-status');
  status.textContent = 'Streaming…';
  $('generate').disabled = true;
  $('stop').disabled = false;
  controller = new AbortController();
  const headers = {'Content-Type': 'application/json'};
  const key = $('api-key').value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  const body = {model: modelName, prompt: $('prompt').value, stream: true,
                max_tokens: Number($('max-tokens').value) || 48};
  let tokens = 0;
  try {
    const r = await fetch(`${serviceUrl}/v1/completions`, {
      method: 'POST', headers, body: JSON.stringify(body), signal: controller.signal});
    if (!r.ok || !r.body) {
      const text = await r.text();
      throw new Error(`HTTP ${r.status}: ${text}`);
    }
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += value;
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message || JSON.stringify(chunk.error));
          const text = chunk.choices && chunk.choices[0] ? chunk.choices[0].text || '' : '';
          out.textContent += text;
          tokens += 1;
        }
      }
    }
    status.textContent = `Done: ${tokens} chunks.`;
    out.dataset.done = 'true';
  } catch (e) {
    status.textContent = e.name === 'AbortError' ? 'Stopped.' : `Failed: ${e.message}`;
    out.dataset.done = 'error';
  } finally {
    $('generate').disabled = false;
    $('stop').disabled = true;
    controller = null;
  }
}

$('playground').addEventListener('submit', generate);
window.addEventListener('resize', () => { if (lastNodes) renderRanktable(lastNodes); });
$('stop').addEventListener('click', () => { if (controller) controller.abort(); });
poll();
