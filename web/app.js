// chiprig serve's page. Device text (identity, messages, traffic notes) is untrusted: every
// text goes into the page through textContent or attribute setters, never as HTML, and the
// server's Content-Security-Policy runs no script but this file.

/** An element: el('td', { class: 'x', 'data-testid': 'y' }, 'text', child, ...). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** A table's header row. */
function headRow(...names) {
  return el(
    'tr',
    {},
    names.map((h) => el('th', {}, h)),
  );
}

/** Replaces a node's children (absent ones left out: replaceChildren would print "null"). */
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
}

const main = document.getElementById('main');
const state = { station: null, run: null, reading: null, readings: [], connected: false };

async function api(path, body) {
  const init =
    body === undefined
      ? {}
      : {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        };
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `${res.status} ${res.statusText}`);
  return data;
}

const ms = (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`);
const when = (iso) => (iso ? iso.slice(0, 19).replace('T', ' ') : '');

// ---- live events ---------------------------------------------------------------------

function connect() {
  const source = new EventSource('/api/events');
  const on = (kind, fn) => source.addEventListener(kind, (e) => fn(JSON.parse(e.data)));
  source.onopen = () => setConnection(true);
  source.onerror = () => setConnection(false);
  on('snapshot', (s) => {
    state.station = s.station;
    state.run = s.run;
    if (s.reading) state.reading = s.reading;
    // After a reload: the run's readings so far start the series.
    if (state.readings.length === 0 && s.run) state.readings.push(...s.run.readings);
    if (route() === 'station') renderStation();
  });
  on('station', (s) => {
    state.station = s;
    if (route() === 'station') renderStation();
  });
  const live = (fn) => (d) => {
    if (!state.run) return;
    fn(d, state.run);
    if (route() === 'station') renderLive();
  };
  on(
    'test',
    live((d, r) => {
      r.tests.push(d.test);
      r.total = d.total;
      r.traffic = [];
      r.trafficDropped = 0;
      r.state = 'running';
    }),
  );
  on(
    'measurement',
    live((d, r) => r.measurements.push(d.measurement)),
  );
  on(
    'traffic',
    live((d, r) => {
      r.traffic.push(...d.lines);
      r.trafficDropped += d.dropped;
      if (r.traffic.length > 400) r.traffic.splice(0, r.traffic.length - 400);
    }),
  );
  on(
    'latency',
    live((d, r) => {
      r.latency.push(...d.points);
      if (r.latency.length > 2000) r.latency.splice(0, r.latency.length - 2000);
    }),
  );
  on(
    'log',
    live((d, r) => {
      r.log.push(d.line);
      if (r.log.length > 400) r.log.splice(0, r.log.length - 400);
    }),
  );
  on(
    'note',
    live((d, r) => r.notes.push(d.text)),
  );
  on(
    'counts',
    live((d, r) => (r.counts = d.counts)),
  );
  on(
    'prompt',
    live((d, r) => {
      r.prompts = r.prompts.filter((p) => !(p.kind === 'presence' && d.prompt.kind === 'presence'));
      r.prompts.push(d.prompt);
    }),
  );
  on(
    'prompt-closed',
    live((d, r) => (r.prompts = r.prompts.filter((p) => p.id !== d.id))),
  );
  on(
    'ended',
    live((d, r) => {
      r.state = 'ended';
      r.exitCode = d.exitCode;
      r.prompts = [];
    }),
  );
  on('reading', (d) => {
    state.reading = d.reading;
    // One series for the station, idle or in a run: the plot shows the chamber across both.
    state.readings.push(d.reading);
    if (state.readings.length > 1200) state.readings.shift();
    if (route() === 'station') renderReadings();
  });
}

function setConnection(ok) {
  state.connected = ok;
  const c = document.getElementById('connection');
  c.textContent = ok ? 'live' : 'reconnecting…';
}

// ---- routing -------------------------------------------------------------------------

function route() {
  const p = location.pathname;
  if (p.startsWith('/history')) return 'history';
  if (p.startsWith('/runs/')) return 'run';
  if (p.startsWith('/compare')) return 'compare';
  return 'station';
}

function go(path) {
  history.pushState(null, '', path);
  show();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey) return;
  e.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', show);

function show() {
  fill(main);
  const r = route();
  if (r === 'station') renderStation();
  else if (r === 'history') renderHistory();
  else if (r === 'run') renderRun(decodeURIComponent(location.pathname.slice('/runs/'.length)));
  else renderCompare();
}

// ---- the station page ----------------------------------------------------------------

function renderStation() {
  const s = state.station;
  if (!s) {
    fill(main, el('section', {}, 'Loading the station…'));
    return;
  }
  // The form keeps what the operator chose across live updates: it is made once.
  if (!document.getElementById('run-form') || main.dataset.station !== s.name) {
    main.dataset.station = s.name;
    fill(
      main,
      el('section', { id: 'station', 'data-testid': 'station' }),
      el('div', { id: 'prompts', 'data-testid': 'prompts' }),
      el('section', {}, el('h2', {}, 'Run'), runForm(s)),
      el('section', { id: 'live', 'data-testid': 'live' }),
    );
  }
  const box = document.getElementById('station');
  const ident = Object.entries(s.identity || {});
  fill(
    box,
    el('h2', {}, 'Station ', el('span', { 'data-testid': 'station-name' }, s.name)),
    el(
      'div',
      {},
      'Device under test: ',
      el('code', {}, s.device),
      s.transports.length ? ` over ${s.transports.join(', ')}` : '',
      s.presence ? `; presence: ${s.presence}` : '',
    ),
    s.problem ? el('p', { class: 'error', 'data-testid': 'station-problem' }, s.problem) : null,
    ident.length
      ? el(
          'table',
          { 'data-testid': 'identity' },
          ident.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v))),
        )
      : null,
    s.instruments.length
      ? el(
          'div',
          {},
          el('h2', {}, 'Instruments'),
          el('div', { class: 'muted' }, s.instruments.map((i) => `${i.role}: ${i.kind}`).join(' · ')),
          el('div', { id: 'readings', class: 'readings', 'data-testid': 'readings' }),
          el('div', { id: 'chamber-plot' }),
        )
      : null,
  );
  renderReadings();
  renderLive();
}

function runForm(s) {
  const message = el('div', { id: 'run-message', 'data-testid': 'run-message' });
  const devices = [s.device, ...s.devices.map((d) => d.device)].filter((d, i, all) => all.indexOf(d) === i);
  const form = el(
    'form',
    { id: 'run-form' },
    el(
      'div',
      {},
      el(
        'label',
        {},
        'Device ',
        el(
          'select',
          { name: 'device', 'data-testid': 'device' },
          devices.map((d) => el('option', { value: d }, d)),
        ),
      ),
      el(
        'label',
        {},
        'or spec ',
        el('input', { name: 'deviceSpec', size: 28, placeholder: 'hid:1050:0407, pcsc:…' }),
      ),
    ),
    el(
      'div',
      {},
      'Suites: ',
      s.suites.map((x) =>
        el(
          'label',
          { title: x.what },
          el('input', { type: 'checkbox', name: 'suite', value: x.name, 'data-testid': `suite-${x.name}` }),
          ` ${x.name}`,
        ),
      ),
      el('span', { class: 'muted' }, '(none ticked: all, or only the scenarios)'),
    ),
    s.scenarios?.length
      ? el(
          'div',
          {},
          'Scenarios: ',
          s.scenarios.map((x) =>
            el(
              'label',
              {},
              el('input', { type: 'checkbox', name: 'scenario', value: x, 'data-testid': `scenario-${x}` }),
              ` ${x.replace(/\.yaml$/, '')}`,
            ),
          ),
        )
      : null,
    el(
      'div',
      {},
      'Transports: ',
      ['hid', 'nfc', 'ble'].map((t) =>
        el(
          'label',
          {},
          el('input', { type: 'checkbox', name: 'transport', value: t, 'data-testid': `transport-${t}` }),
          ` ${t}`,
        ),
      ),
      el('span', { class: 'muted' }, "(none ticked: the device's)"),
    ),
    el(
      'div',
      {},
      el(
        'label',
        {},
        'Presence ',
        el(
          'select',
          { name: 'presence', 'data-testid': 'presence' },
          el('option', { value: '' }, "station's"),
          el('option', { value: 'actuator' }, 'actuator'),
          el('option', { value: 'prompt' }, 'prompt (ask here)'),
          el('option', { value: 'auto' }, 'auto'),
        ),
      ),
      el('label', {}, 'Only tests matching ', el('input', { name: 'grep', size: 20, 'data-testid': 'grep' })),
      el(
        'label',
        {},
        'Repeat ',
        el('input', {
          name: 'repeat',
          type: 'number',
          min: 1,
          max: 100,
          value: 1,
          class: 'narrow',
          'data-testid': 'repeat',
        }),
      ),
    ),
    el(
      'div',
      {},
      el('button', { type: 'submit', 'data-testid': 'start' }, 'Start'),
      ' ',
      el('button', { type: 'button', 'data-testid': 'stop', onclick: stopRun }, 'Stop'),
    ),
    message,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const request = {
      device: f.get('deviceSpec') || f.get('device') || undefined,
      suites: f.getAll('suite'),
      scenarios: f.getAll('scenario'),
      transports: f.getAll('transport'),
      presence: f.get('presence') || undefined,
      grep: f.get('grep') || undefined,
      repeat: Number(f.get('repeat') || 1),
    };
    message.className = '';
    message.textContent = 'starting…';
    try {
      const r = await api('/api/runs', request);
      message.textContent = `run ${r.runId.slice(0, 8)} started`;
    } catch (error) {
      message.className = 'error';
      message.textContent = `Not started: ${error.message}`;
    }
  });
  return form;
}

async function stopRun() {
  const message = document.getElementById('run-message');
  try {
    await api('/api/stop', {});
    message.textContent = 'stopping…';
  } catch (error) {
    message.className = 'error';
    message.textContent = error.message;
  }
}

function renderReadings() {
  const box = document.getElementById('readings');
  if (!box) return;
  const r = state.reading;
  if (!r) {
    fill(box, el('span', { class: 'muted' }, 'no reading yet'));
  } else {
    fill(
      box,
      r.chamber
        ? el(
            'span',
            {},
            'chamber ',
            el('b', { 'data-testid': 'chamber-temperature' }, r.chamber.temperature.toFixed(1)),
            ' °C (set ',
            el('span', { 'data-testid': 'chamber-setpoint' }, r.chamber.setPoint.toFixed(1)),
            ' °C)',
          )
        : null,
      r.meter
        ? el(
            'span',
            {},
            'meter ',
            el('b', { 'data-testid': 'meter-current' }, r.meter.currentUa.toFixed(1)),
            ' µA',
          )
        : null,
      r.power
        ? el('span', {}, 'power ', el('b', { 'data-testid': 'power-state' }, r.power.on ? 'on' : 'off'))
        : null,
      r.error ? el('span', { class: 'error' }, r.error) : null,
      el('span', { class: 'muted', 'data-testid': 'reading-time' }, new Date(r.at).toLocaleTimeString()),
    );
  }
  const chamber = state.readings.filter((x) => x.chamber);
  const plot = document.getElementById('chamber-plot');
  if (plot) {
    fill(
      plot,
      chamber.length > 1
        ? plotSvg(
            'chamber °C',
            chamber.map((x) => [x.at, x.chamber.temperature]),
            chamber.map((x) => [x.at, x.chamber.setPoint]),
            'chamber-plot',
          )
        : '',
    );
  }
}

/** A line plot of [time, value] points (and a dashed second series). */
function plotSvg(label, points, second, testid) {
  const W = 600;
  const H = 160;
  const all = [...points, ...(second || [])];
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]), t0 + 1);
  let lo = Math.min(...all.map((p) => p[1]));
  let hi = Math.max(...all.map((p) => p[1]));
  if (hi - lo < 1e-9) {
    hi += 1;
    lo -= 1;
  }
  const x = (t) => 40 + ((t - t0) / (t1 - t0)) * (W - 50);
  const y = (v) => H - 20 - ((v - lo) / (hi - lo)) * (H - 35);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'plot');
  svg.setAttribute('data-testid', testid);
  const line = (pts, cls) => {
    const pl = document.createElementNS(ns, 'polyline');
    pl.setAttribute('points', pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' '));
    if (cls) pl.setAttribute('class', cls);
    svg.append(pl);
  };
  const text = (tx, ty, s) => {
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', tx);
    t.setAttribute('y', ty);
    t.textContent = s;
    svg.append(t);
  };
  if (second) line(second, 'set');
  line(points);
  text(2, 12, `${label}: ${hi.toPrecision(4)}`);
  text(2, H - 22, lo.toPrecision(4));
  text(40, H - 4, `${((t1 - t0) / 1000).toFixed(0)} s`);
  return svg;
}

function renderLive() {
  const box = document.getElementById('live');
  if (!box) return;
  renderPrompts();
  const r = state.run;
  if (!r) {
    fill(
      box,
      el('h2', {}, 'Live run'),
      el('p', { class: 'muted' }, 'No run yet: choose and start one above.'),
    );
    return;
  }
  const c = { passed: 0, failed: 0, broken: 0, skipped: 0, advisory: 0 };
  for (const t of r.tests) c[t.outcome]++;
  const stateText = r.state === 'ended' ? `ended (exit ${r.exitCode})` : r.stopping ? 'stopping' : r.state;
  const tests = r.tests.slice(-300).reverse();
  fill(
    box,
    el(
      'h2',
      {},
      'Run ',
      el('a', { href: `/runs/${r.runId}`, 'data-link': true, 'data-testid': 'run-id' }, r.runId.slice(0, 8)),
      r.repeat > 1 ? ` (round ${r.round} of ${r.repeat})` : '',
      ' — ',
      el('span', { 'data-testid': 'run-state' }, stateText),
    ),
    el(
      'div',
      { 'data-testid': 'progress' },
      `${r.tests.length}${r.total ? ` of ${r.total}` : ''} tests: ${c.passed} passed, ${c.failed} failed, ${c.broken} broken, ${c.skipped} skipped${c.advisory ? `, ${c.advisory} advisory` : ''}`,
    ),
    r.device
      ? el(
          'div',
          { class: 'muted' },
          `device ${r.device}; suites ${(r.suites || []).join(', ')}; presence ${r.presence}`,
        )
      : null,
    r.notes.length
      ? el(
          'ul',
          {},
          r.notes.map((n) => el('li', {}, n)),
        )
      : null,
    r.state === 'ended'
      ? el(
          'div',
          {},
          el(
            'a',
            { href: `/reports/${r.runId}`, target: '_blank', rel: 'noopener', 'data-testid': 'report-link' },
            'Allure report',
          ),
          ' · ',
          el('a', { href: `/runs/${r.runId}`, 'data-link': true }, 'run page'),
        )
      : null,
    el(
      'div',
      { class: 'grid2' },
      el(
        'div',
        {},
        el('h2', {}, 'Tests'),
        el(
          'div',
          { class: 'scroll' },
          el(
            'table',
            { 'data-testid': 'tests' },
            headRow('#', 'test', 'outcome', 'time'),
            tests.map((t) =>
              el(
                'tr',
                { 'data-outcome': t.outcome },
                el('td', {}, t.index),
                el(
                  'td',
                  { title: t.area },
                  t.title,
                  t.message && t.outcome !== 'passed'
                    ? el('div', { class: 'muted' }, t.message.split('\n')[0])
                    : null,
                ),
                el('td', { class: `outcome-${t.outcome}` }, t.outcome),
                el('td', {}, ms(t.durationMs)),
              ),
            ),
          ),
        ),
      ),
      el(
        'div',
        {},
        el('h2', {}, 'Traffic of the running test'),
        el(
          'pre',
          { 'data-testid': 'traffic' },
          r.traffic.join('\n') + (r.trafficDropped ? `\n(${r.trafficDropped} more lines not shown)` : ''),
        ),
        el('h2', {}, 'Latency (U2F request → answer)'),
        r.latency.length > 1
          ? plotSvg(
              'ms',
              r.latency.map((p) => [p.at, p.ms]),
              null,
              'latency-plot',
            )
          : el('p', { class: 'muted' }, 'no exchanges yet'),
      ),
    ),
    r.measurements.length
      ? el(
          'div',
          {},
          el('h2', {}, 'Measurements'),
          el(
            'table',
            { 'data-testid': 'measurements' },
            headRow('test', 'name', 'value', 'verdict'),
            r.measurements
              .slice(-200)
              .map((m) =>
                el(
                  'tr',
                  {},
                  el('td', {}, `${m.test}${m.transport ? ` ${m.transport}` : ''}`),
                  el('td', {}, m.name),
                  el('td', {}, `${Number(m.value.toPrecision(5))} ${m.unit}`),
                  el('td', {}, m.verdict),
                ),
              ),
          ),
        )
      : null,
    el(
      'details',
      {},
      el('summary', {}, 'Run log'),
      el('pre', { 'data-testid': 'log' }, r.log.slice(-200).join('\n')),
    ),
  );
  renderReadings();
}

function renderPrompts() {
  const box = document.getElementById('prompts');
  if (!box) return;
  const prompts = state.run && state.run.state !== 'ended' ? state.run.prompts : [];
  const shown = new Set([...box.children].map((c) => c.dataset.id));
  const wanted = new Set(prompts.map((p) => String(p.id)));
  if (shown.size === wanted.size && [...wanted].every((id) => shown.has(id))) return;
  fill(
    box,
    ...prompts.map((p) => {
      const input = el('input', {
        size: 24,
        'data-testid': 'prompt-input',
        placeholder: p.kind === 'presence' ? '' : 'reading (optional)',
      });
      const answer = async (ev) => {
        ev.preventDefault();
        try {
          await api(`/api/prompts/${p.id}`, { text: input.value });
        } catch (error) {
          box.append(el('div', { class: 'error' }, error.message));
        }
      };
      const left = Math.max(0, Math.round((p.until - Date.now()) / 1000));
      return el(
        'form',
        { class: 'prompt', 'data-id': p.id, 'data-testid': `prompt-${p.kind}`, onsubmit: answer },
        el('p', {}, p.text),
        p.kind === 'presence' ? null : input,
        el(
          'button',
          { type: 'submit', 'data-testid': 'prompt-answer' },
          p.kind === 'presence' ? 'I touched it' : 'Done',
        ),
        el('span', { class: 'muted' }, ` within ${left} s`),
      );
    }),
  );
}

// ---- history, run and comparison pages ------------------------------------------------

async function renderHistory() {
  const params = new URLSearchParams(location.search);
  const filters = ['station', 'serial', 'firmware', 'requirement', 'since', 'until'];
  const form = el(
    'form',
    { 'data-testid': 'history-filter' },
    filters.map((f) =>
      el('label', {}, `${f} `, el('input', { name: f, size: 14, value: params.get(f) || '' })),
    ),
    el('button', { type: 'submit' }, 'Filter'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    go(`/history${q.toString() ? `?${q}` : ''}`);
  });
  const table = el('table', { 'data-testid': 'history' });
  const compare = el('button', { type: 'button', 'data-testid': 'compare' }, 'Compare the two ticked runs');
  fill(main, el('section', {}, el('h2', {}, 'History'), form, table, compare));
  let data;
  try {
    data = await api(`/api/runs?${params}`);
  } catch (error) {
    table.replaceWith(el('p', { class: 'error' }, error.message));
    return;
  }
  table.append(
    headRow('', 'run', 'started (UTC)', 'station', 'serial', 'firmware', 'status', 'results', 'report'),
  );
  for (const r of data.runs) {
    table.append(
      el(
        'tr',
        { 'data-run': r.id },
        el('td', {}, el('input', { type: 'checkbox', value: r.id, 'data-testid': 'pick' })),
        el('td', {}, el('a', { href: `/runs/${r.id}`, 'data-link': true }, r.id.slice(0, 8))),
        el('td', {}, when(r.started_at)),
        el('td', {}, r.station),
        el('td', {}, r.device_serial || ''),
        el('td', {}, r.firmware || ''),
        el('td', { class: `status-${r.status}`, 'data-testid': 'run-status' }, r.status),
        el('td', {}, `${r.passed} passed, ${r.failed} failed, ${r.broken} broken, ${r.skipped} skipped`),
        el(
          'td',
          {},
          r.report ? el('a', { href: r.report, target: '_blank', rel: 'noopener' }, 'Allure') : '',
        ),
      ),
    );
  }
  main.firstChild.append(el('p', { class: 'muted' }, `${data.runs.length} runs in ${data.database}`));
  compare.addEventListener('click', () => {
    const picked = [...table.querySelectorAll('input[type=checkbox]:checked')].map((c) => c.value);
    if (picked.length !== 2) {
      compare.after(el('span', { class: 'error' }, ' tick exactly two runs'));
      return;
    }
    // Older run first: A is the baseline.
    go(`/compare?a=${picked[1]}&b=${picked[0]}`);
  });
}

async function renderRun(id) {
  const box = el('section', { 'data-testid': 'run-page' }, 'Loading…');
  fill(main, box);
  let d;
  try {
    d = await api(`/api/runs/${encodeURIComponent(id)}`);
  } catch (error) {
    fill(box, el('p', { class: 'error' }, error.message));
    return;
  }
  const r = d.run;
  fill(
    box,
    el('h2', {}, `Run ${r.id}`),
    el(
      'p',
      {},
      'Status: ',
      el('b', { class: `status-${r.status}`, 'data-testid': 'run-status' }, r.status),
      r.note ? ` (${r.note})` : '',
    ),
    el(
      'p',
      {},
      `station ${r.station} on ${r.host}; device ${r.device}; started ${when(r.started_at)}${r.ended_at ? `, ended ${when(r.ended_at)}` : ''}; suites ${r.suites.join(', ')}`,
    ),
    el(
      'p',
      {},
      `${r.passed} passed, ${r.failed} failed, ${r.broken} broken, ${r.skipped} skipped, ${r.advisory} advisory`,
    ),
    r.report
      ? el(
          'p',
          {},
          el(
            'a',
            { href: r.report, target: '_blank', rel: 'noopener', 'data-testid': 'report-link' },
            'Allure report',
          ),
        )
      : null,
    el(
      'table',
      { 'data-testid': 'identity' },
      Object.entries(r.identity).map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v))),
    ),
    el('h2', {}, 'Results'),
    el(
      'table',
      { 'data-testid': 'results' },
      headRow('#', 'requirement', 'transport', 'test', 'outcome', 'time'),
      d.results.map((x) =>
        el(
          'tr',
          {},
          el('td', {}, x.seq),
          el('td', {}, x.requirement || ''),
          el('td', {}, x.transport || ''),
          el(
            'td',
            {},
            x.title,
            x.message && x.outcome !== 'passed'
              ? el('div', { class: 'muted' }, x.message.split('\n')[0])
              : null,
          ),
          el('td', { class: `outcome-${x.outcome}` }, x.outcome),
          el('td', {}, ms(x.duration_ms)),
        ),
      ),
    ),
    d.measurements.length ? el('h2', {}, 'Measurements') : null,
    d.measurements.length
      ? el(
          'table',
          {},
          d.measurements.map((m) =>
            el(
              'tr',
              {},
              el('td', {}, `${m.test} ${m.transport || ''}`),
              el('td', {}, m.name),
              el('td', {}, `${Number(m.value.toPrecision(5))} ${m.unit}`),
              el('td', {}, m.verdict),
            ),
          ),
        )
      : null,
  );
}

async function renderCompare() {
  const q = new URLSearchParams(location.search);
  const box = el('section', { 'data-testid': 'compare-page' }, 'Comparing…');
  fill(main, box);
  let d;
  try {
    d = await api(
      `/api/compare?a=${encodeURIComponent(q.get('a') || '')}&b=${encodeURIComponent(q.get('b') || '')}`,
    );
  } catch (error) {
    fill(box, el('p', { class: 'error' }, error.message));
    return;
  }
  const head = el(
    'p',
    {},
    `A: ${d.a.id.slice(0, 8)} (${when(d.a.started_at)}, ${d.a.firmware || '?'}) → B: ${d.b.id.slice(0, 8)} (${when(d.b.started_at)}, ${d.b.firmware || '?'})`,
  );
  if (d.kind === 'verdicts') {
    fill(
      box,
      el('h2', {}, 'Verdict changes'),
      head,
      d.changes.length
        ? el(
            'table',
            { 'data-testid': 'changes' },
            d.changes.map((c) =>
              el(
                'tr',
                {},
                el('td', {}, c.key),
                el('td', {}, c.a || '–'),
                el('td', {}, '→'),
                el('td', {}, c.b || '–'),
              ),
            ),
          )
        : el('p', {}, 'No verdict changed.'),
    );
    return;
  }
  const c = d.comparison;
  const rows = (title, list) =>
    list?.length
      ? [
          el('h2', {}, `${title} (${list.length})`),
          el(
            'table',
            {},
            list.map((x) =>
              el(
                'tr',
                {},
                el('td', {}, x.key || x.name || JSON.stringify(x)),
                el('td', {}, x.a === undefined ? '' : String(x.a)),
                el('td', {}, x.b === undefined ? '' : String(x.b)),
                el('td', {}, x.why || x.message || ''),
              ),
            ),
          ),
        ]
      : [];
  fill(
    box,
    el('h2', {}, 'Comparison'),
    head,
    el(
      'p',
      { 'data-testid': 'verdict' },
      c.regressed ? `B regressed: ${(c.reasons || []).join('; ')}` : 'B did not regress against A',
    ),
    ...rows('New failures', c.newFailures),
    ...rows('Fixed', c.fixes),
    ...rows('Newly skipped', c.newSkips),
    ...rows('Other verdict changes', c.otherChanges),
    ...rows('Measurements beyond noise', c.measurementChanges),
    ...rows('Limits newly crossed', c.newlyOutside),
    ...rows(
      'Device identity',
      (c.identity || [])
        .filter((r) => r.changed)
        .map((r) => ({ key: r.field, a: r.a ?? '–', b: r.b ?? '–' })),
    ),
    c.onlyInA?.length
      ? el('p', {}, `In A only (${c.onlyInA.length}): ${c.onlyInA.slice(0, 40).join(', ')}`)
      : null,
    c.onlyInB?.length
      ? el('p', {}, `In B only (${c.onlyInB.length}): ${c.onlyInB.slice(0, 40).join(', ')}`)
      : null,
    c.measurements
      ? el(
          'p',
          { class: 'muted' },
          `${c.measurements.compared} measurements compared, ${c.measurements.unjudged} not judged (no interval)`,
        )
      : null,
  );
}

connect();
show();
