// qpstat dashboard: reads /api/report and draws it. Every log field reaches
// the page as data (textContent, chart labels drawn on canvas), never as HTML.
// The same page is `qpstat report --format html`: one file holding this
// script, Chart.js and the report's JSON in <script id="qpstat-report"
// type="application/json"> (a static page: no store to ask, no refresh).
'use strict';

const REFRESH_MS = 5000;
const TABLES = 'disposition,dnsbl,disposition,tld,hour,day,score,spam,ip,helo,sender,recipient,' +
  'connections,connection-time,hour,disposition,day,disposition';
const PALETTE = ['#3a9a50', '#c04040', '#4a7fb0', '#e0a030', '#8a5cb0', '#40a0a0', '#b0608a', '#7a7a30',
  '#d07050', '#5060c0', '#909090'];
const charts = {};

function el(id) { return document.getElementById(id); }

// The report embedded by `qpstat report --format html`, or null.
function embedded() { return el('qpstat-report'); }

function cell(row, text, numeric) {
  const td = document.createElement('td');
  td.textContent = text;
  if (numeric) td.className = 'num';
  row.appendChild(td);
  return td;
}

// The period chosen in the form, as API parameters.
function rangeParams() {
  const p = new URLSearchParams();
  const period = el('period').value;
  if (period === 'today' || period === 'yesterday') p.set(period, '1');
  else if (period === 'custom') {
    if (el('since').value) p.set('since', el('since').value);
    if (el('until').value) p.set('until', el('until').value);
  } else if (period !== 'all') p.set('days', period);
  return p;
}

function rows(report, dim) {
  const d = report.dimensions[dim];
  return d && d.rows ? d.rows : [];
}

// Every count opens its transactions: a link sets the hash, the hash
// opens the drill-down (so a drill-down can be bookmarked and shared).
function drillTo(filters) {
  if (embedded()) return; // a file has no store to list transactions from
  location.hash = 'where=' + filters.map((f) => encodeURIComponent(f)).join('&where=');
}

function barChart(id, labels, values, label, key) {
  const canvas = el(id);
  if (!window.Chart) return;
  if (!charts[id]) {
    charts[id] = new window.Chart(canvas, {
      type: 'bar',
      data: { labels: [], datasets: [{ label: label, data: [], backgroundColor: '#4a7fb0' }] },
      options: {
        onClick: (evt, elements, chart) => {
          if (elements.length) drillTo([chart.$qpstatKey() + '=' + chart.data.labels[elements[0].index]]);
        },
        animation: false,
        aspectRatio: canvas.parentElement.classList.contains('wide') ? 5 : 2,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true } },
      },
    });
  }
  const chart = charts[id];
  chart.$qpstatKey = () => key;
  chart.data.labels = labels;
  chart.data.datasets[0].data = values;
  chart.update();
  canvas.dataset.points = String(values.length);
}

// Transactions over time, one stacked bar per hour (a day) or day (longer),
// a colour per disposition; a click opens that hour's or day's transactions
// of that disposition.
function timeChart(report, timeKey) {
  const canvas = el('c-time');
  const labels = rows(report, timeKey).map((r) => r[timeKey]);
  const pairs = rows(report, timeKey + ',disposition');
  const disps = [...new Set(pairs.map((r) => r.disposition))];
  const datasets = disps.map((d, i) => ({
    label: d === '' ? '(none)' : d,
    $disposition: d,
    data: labels.map((t) => (pairs.find((r) => r[timeKey] === t && r.disposition === d) || { count: 0 }).count),
    backgroundColor: d === 'queued' ? PALETTE[0] : PALETTE[1 + (i % (PALETTE.length - 1))],
  }));
  if (!window.Chart) return;
  if (charts['c-time']) charts['c-time'].destroy();
  charts['c-time'] = new window.Chart(canvas, {
    type: 'bar',
    data: { labels: labels, datasets: datasets },
    options: {
      onClick: (evt, elements, chart) => {
        if (!elements.length) return;
        const e = elements[0];
        drillTo([timeKey + '=' + chart.data.labels[e.index],
          'disposition=' + chart.data.datasets[e.datasetIndex].$disposition]);
      },
      animation: false,
      aspectRatio: 5,
      plugins: { legend: { display: true, position: 'right' } },
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
    },
  });
  canvas.dataset.points = String(labels.length);
  canvas.dataset.series = String(datasets.length);
}

function linkCell(row, text, filters) {
  const td = cell(row, text, false);
  td.className = 'link';
  td.addEventListener('click', () => drillTo(filters));
  return td;
}

// Sortable tables: a click on a column's header sorts the rows below it
// (numbers as numbers), a second click reverses.
function sortTable(table, col, dir) {
  const all = [...table.rows];
  const body = all.slice(1);
  const value = (tr) => (tr.cells[col] ? tr.cells[col].textContent : '');
  // a count, a percentage or a score is a number; "1.2.3.4" is not
  const numeric = body.every((tr) => /^(-?\d+(\.\d+)?%?)?$/.test(value(tr)));
  body.sort((a, b) => {
    const x = value(a), y = value(b);
    const c = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : (x < y ? -1 : x > y ? 1 : 0);
    return dir === 'desc' ? -c : c;
  });
  for (const tr of body) table.appendChild(tr);
  table.dataset.sorted = col + ',' + dir;
}

function headerRow(table, names, numeric) {
  const tr = document.createElement('tr');
  names.forEach((name, i) => {
    const th = document.createElement('th');
    th.textContent = name;
    if (numeric[i]) th.className = 'num';
    th.title = 'sort';
    th.addEventListener('click', () => {
      const [c, d] = (table.dataset.sorted || '').split(',');
      sortTable(table, i, Number(c) === i && d === 'asc' ? 'desc' : 'asc');
    });
    tr.appendChild(th);
  });
  table.appendChild(tr);
}

function fillTop(id, list, keyName) {
  const table = el(id);
  table.replaceChildren();
  headerRow(table, [keyName, 'count', 'percent'], [false, true, true]);
  for (const r of list) {
    const tr = document.createElement('tr');
    linkCell(tr, r[keyName], [keyName + '=' + r[keyName]]);
    cell(tr, String(r.count), true);
    cell(tr, r.percent.toFixed(2) + '%', true);
    table.appendChild(tr);
  }
}

function fillKV(id, obj) {
  const table = el(id);
  table.replaceChildren();
  for (const [k, v] of Object.entries(obj || {})) {
    const tr = document.createElement('tr');
    cell(tr, k.replace(/_/g, ' '), false);
    cell(tr, v === null ? 'n/a' : String(v), true);
    table.appendChild(tr);
  }
}

// The disposition x TLD table, each cell shaded by its share of the largest.
function fillHeat(report) {
  const table = el('heat');
  table.replaceChildren();
  const cells = rows(report, 'disposition,tld').filter((r) => r.tld !== '{Total}' && r.disposition !== '{Total}');
  const tlds = [...new Set(cells.map((r) => r.tld))].slice(0, 15);
  const disps = [...new Set(cells.map((r) => r.disposition))];
  const max = Math.max(1, ...cells.map((r) => r.count));
  const head = document.createElement('tr');
  cell(head, '', false);
  for (const t of tlds) cell(head, t === '' ? '(none)' : t, true);
  table.appendChild(head);
  for (const d of disps) {
    const tr = document.createElement('tr');
    cell(tr, d, false);
    for (const t of tlds) {
      const hit = cells.find((r) => r.disposition === d && r.tld === t);
      const n = hit ? hit.count : 0;
      const td = cell(tr, n ? String(n) : '', true);
      if (n) td.addEventListener('click', () => drillTo(['disposition=' + d, 'tld=' + t]));
      if (n) td.classList.add('link');
      if (n) td.style.backgroundColor = 'rgba(200, 60, 40, ' + (0.1 + 0.8 * n / max).toFixed(2) + ')';
    }
    table.appendChild(tr);
  }
}

function show(report) {
  const disp = rows(report, 'disposition');
  const total = report.transactions;
  const queued = (disp.find((r) => r.disposition === 'queued') || { count: 0 }).count;
  const spam = (rows(report, 'spam').find((r) => r.spam === 'spam') || { count: 0 }).count;
  el('t-transactions').textContent = String(total);
  el('t-accepted').textContent = String(queued);
  el('t-denied').textContent = String(total - queued);
  el('t-spam').textContent = String(spam);
  el('t-share').textContent = total ? ((total - queued) * 100 / total).toFixed(1) + '%' : 'n/a';
  // qpsmtpd lines but not one logterse record (stock Debian before the
  // plugin): the core's rule (qps_no_terse), so that zeros do not read as
  // "no mail"
  const lines = report.lines || {};
  el('no-terse').hidden = !(total === 0 && lines.parsed > 0 && !lines.out_of_range
    && report.kinds && report.kinds.terse === 0);

  const byDay = embedded() ? document.body.dataset.scale !== 'hour'
    : el('period').value !== 'today' && el('period').value !== 'yesterday';
  const timeKey = byDay ? 'day' : 'hour';
  timeChart(report, timeKey);
  const denied = disp.filter((r) => r.disposition !== 'queued');
  barChart('c-disposition', denied.map((r) => r.disposition), denied.map((r) => r.count), 'denials', 'disposition');
  const dnsbl = rows(report, 'dnsbl');
  barChart('c-dnsbl', dnsbl.map((r) => r.dnsbl), dnsbl.map((r) => r.count), 'denials', 'dnsbl');
  const score = rows(report, 'score');
  barChart('c-score', score.map((r) => r.score), score.map((r) => r.count), 'messages', 'score');
  fillKV('connections', report.dimensions.connections);
  fillKV('connection-time', report.dimensions['connection-time']);
  fillHeat(report);
  fillTop('top-ip', rows(report, 'ip'), 'ip');
  fillTop('top-helo', rows(report, 'helo'), 'helo');
  fillTop('top-sender', rows(report, 'sender'), 'sender');
  fillTop('top-recipient', rows(report, 'recipient'), 'recipient');
}

const LIST_COLUMNS = ['time', 'ip', 'helo', 'sender', 'recipients', 'disposition', 'code', 'text', 'score'];

// The drill-down: the transactions behind the count named in the hash.
async function drill() {
  const m = /^#where=(.*)$/.exec(location.hash);
  const box = el('drill');
  if (!m) { box.hidden = true; return; }
  const filters = m[1] === '' ? [] : m[1].split('&where=').map((f) => decodeURIComponent(f));
  const p = rangeParams();
  for (const f of filters) p.append('where', f);
  p.set('limit', '500');
  box.hidden = false;
  el('drill-title').textContent = filters.length ? filters.join(' and ') : 'all transactions';
  const table = el('drill-table');
  try {
    const res = await fetch('/api/list?' + p.toString(), { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    table.replaceChildren();
    headerRow(table, LIST_COLUMNS, LIST_COLUMNS.map((c) => c === 'score'));
    for (const t of body.transactions) {
      const tr = document.createElement('tr');
      tr.className = 'tx';
      for (const c of LIST_COLUMNS) cell(tr, t[c] === null ? '' : String(t[c]), c === 'score');
      table.appendChild(tr);
    }
    el('drill-count').textContent = body.matched + ' transactions' +
      (body.shown < body.matched ? ', the newest ' + body.shown + ' shown' : '');
    box.dataset.matched = String(body.matched);
  } catch (e) {
    el('drill-count').textContent = 'cannot list: ' + e.message;
  }
}

async function refresh() {
  const p = rangeParams();
  p.set('by', TABLES);
  try {
    const res = await fetch('/api/report?' + p.toString(), { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    show(body);
    el('status').textContent = 'updated ' + new Date().toLocaleTimeString();
    document.body.dataset.loaded = 'yes';
  } catch (e) {
    el('status').textContent = 'cannot read the store: ' + e.message;
    document.body.dataset.loaded = 'error';
  }
}

// The report file: draw the embedded report once; "#sort=TABLE,COLUMN,asc"
// sorts a table as clicks on its header would (for bookmarks and tests).
function showEmbedded() {
  el('period').parentElement.hidden = true; // one report: no period to choose
  el('search').parentElement.hidden = true; // and no store to search
  document.querySelector('button.search').hidden = true;
  show(JSON.parse(embedded().textContent));
  el('status').textContent = 'report: ' + (document.body.dataset.range || 'every record');
  const m = /^#sort=([\w-]+),(\d+),(asc|desc)$/.exec(location.hash);
  if (m && el(m[1])) sortTable(el(m[1]), Number(m[2]), m[3]);
  document.body.dataset.loaded = 'yes';
}

document.addEventListener('DOMContentLoaded', () => {
  if (embedded()) {
    showEmbedded();
    return;
  }
  const form = el('range');
  form.addEventListener('change', () => {
    form.parentElement.classList.toggle('custom', el('period').value === 'custom');
    refresh();
    drill();
  });
  // the search box: the transactions qpstat grep would show, from the store
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = el('search').value;
    if (q !== '') drillTo(['grep=' + q]);
  });
  el('drill-close').addEventListener('click', (e) => { e.preventDefault(); location.hash = ''; });
  window.addEventListener('hashchange', drill);
  refresh();
  drill();
  setInterval(refresh, REFRESH_MS);
});
