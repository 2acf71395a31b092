// qpstat dashboard: reads /api/report and draws it. Every log field reaches
// the page as data (textContent, chart labels drawn on canvas), never as HTML.
'use strict';

const REFRESH_MS = 5000;
const TABLES = 'disposition,dnsbl,disposition,tld,hour,day,score,spam,ip,helo,sender,recipient,' +
  'connections,connection-time';
const charts = {};

function el(id) { return document.getElementById(id); }

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

function barChart(id, labels, values, label) {
  const canvas = el(id);
  if (!window.Chart) return;
  if (!charts[id]) {
    charts[id] = new window.Chart(canvas, {
      type: 'bar',
      data: { labels: [], datasets: [{ label: label, data: [], backgroundColor: '#4a7fb0' }] },
      options: {
        animation: false,
        aspectRatio: canvas.parentElement.classList.contains('wide') ? 5 : 2,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true } },
      },
    });
  }
  const chart = charts[id];
  chart.data.labels = labels;
  chart.data.datasets[0].data = values;
  chart.update();
  canvas.dataset.points = String(values.length);
}

function fillTop(id, list, keyName) {
  const table = el(id);
  table.replaceChildren();
  for (const r of list) {
    const tr = document.createElement('tr');
    cell(tr, r[keyName], false);
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

  const byDay = el('period').value !== 'today' && el('period').value !== 'yesterday';
  const time = rows(report, byDay ? 'day' : 'hour');
  barChart('c-time', time.map((r) => r[byDay ? 'day' : 'hour']), time.map((r) => r.count), 'transactions');
  const denied = disp.filter((r) => r.disposition !== 'queued');
  barChart('c-disposition', denied.map((r) => r.disposition), denied.map((r) => r.count), 'denials');
  const dnsbl = rows(report, 'dnsbl');
  barChart('c-dnsbl', dnsbl.map((r) => r.dnsbl), dnsbl.map((r) => r.count), 'denials');
  const score = rows(report, 'score');
  barChart('c-score', score.map((r) => r.score), score.map((r) => r.count), 'messages');
  fillKV('connections', report.dimensions.connections);
  fillKV('connection-time', report.dimensions['connection-time']);
  fillHeat(report);
  fillTop('top-ip', rows(report, 'ip'), 'ip');
  fillTop('top-helo', rows(report, 'helo'), 'helo');
  fillTop('top-sender', rows(report, 'sender'), 'sender');
  fillTop('top-recipient', rows(report, 'recipient'), 'recipient');
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

document.addEventListener('DOMContentLoaded', () => {
  const form = el('range');
  form.addEventListener('change', () => {
    form.parentElement.classList.toggle('custom', el('period').value === 'custom');
    refresh();
  });
  form.addEventListener('submit', (e) => e.preventDefault());
  refresh();
  setInterval(refresh, REFRESH_MS);
});
