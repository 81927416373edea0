// iotstream dashboard: draws the latest result on a map and a table, totals and charts from the
// status stream, all fed by server-sent events from /api/events; with a results store, the results
// chart also shows a chosen time range from /api/history, and a clicked state gets a chart of its
// own. No framework, no network access beyond this server.
"use strict";

const CODES = {
  "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA", "Colorado": "CO",
  "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC", "Florida": "FL", "Georgia": "GA",
  "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
  "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA",
  "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
  "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM",
  "New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
  "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
  "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
  "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
};
const NAMES = Object.fromEntries(Object.entries(CODES).map(([name, code]) => [code, name]));
const HISTORY = 300; // points kept per chart, and records asked for when backfilling

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat("en-US");
const fmt1 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const seconds = (time) => Date.parse(time) / 1000;

const view = {
  latest: null, // the result shown on the map and table
  byState: new Map(),
  sort: { key: "avg_temperature", desc: true },
  windows: new Map(), // "start|end" → the newest result seen for that window, summarised for the chart
  stats: new Map(), // `at` → { t, readings }, for the throughput chart
  current: null, // the newest stats record, shown in the tiles
  tip: null, // state code whose tooltip is shown
  charts: {},
  dirty: new Set(), // what render() has to draw again
  syncs: 0, // backfills completed
  reconnects: 0, // times the event stream opened again after losing its connection
};

// The event stream and its backfill: events that arrive while history loads wait in `buffer`.
const stream = { source: null, buffer: null, generation: 0, opened: false, retry: 1000 };

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

// A short note on the page for a part that failed to load; an empty message hides it.
function note(id, message) {
  const element = $(id);
  element.textContent = message;
  element.hidden = !message;
}

// ---- map -------------------------------------------------------------------------------------

function pathOf(geometry) {
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  return polygons
    .map((rings) => rings.map((ring) => "M" + ring.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join("L") + "Z").join(""))
    .join("");
}

async function drawMap() {
  const topo = await getJSON("/assets/states-albers-10m.json");
  const states = topojson.feature(topo, topo.objects.states).features;
  const svg = $("map");
  for (const feature of states) {
    const code = CODES[feature.properties.name];
    if (!code) continue;
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", pathOf(feature.geometry));
    path.setAttribute("class", "state");
    path.setAttribute("tabindex", "0");
    path.setAttribute("role", "img");
    path.dataset.state = code;
    path.addEventListener("mousemove", (event) => showTooltip(code, event.clientX, event.clientY));
    path.addEventListener("mouseleave", hideTooltip);
    path.addEventListener("focus", () => {
      const box = path.getBoundingClientRect();
      showTooltip(code, box.left + box.width / 2, box.top + box.height / 2);
    });
    path.addEventListener("blur", hideTooltip);
    path.addEventListener("click", () => selectState(code));
    path.addEventListener("keydown", (event) => {
      if (event.key === "Enter") selectState(code);
    });
    svg.appendChild(path);
  }
  paintMap();
}

// Blue (cold) → pale yellow → red (warm), over the current range of state averages.
const STOPS = [[49, 54, 149], [116, 173, 209], [255, 255, 191], [244, 109, 67], [165, 0, 38]];
function colour(t) {
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const c = STOPS[i].map((v, k) => Math.round(v + (STOPS[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// What a state's tooltip and accessible name say.
function describe(code) {
  const s = view.byState.get(code);
  const lines = [`${NAMES[code] || code} (${code})`];
  if (s) {
    lines.push(`avg ${fmt1.format(s.avg_temperature)}°  min ${fmt1.format(s.min_temperature)}°  max ${fmt1.format(s.max_temperature)}°`);
    lines.push(`${fmt.format(s.messages)} messages · ${fmt.format(s.sensors)} sensors`);
  } else {
    lines.push("no readings in this window");
  }
  return lines;
}

function paintMap() {
  const values = [...view.byState.values()].map((s) => s.avg_temperature);
  const low = Math.min(...values), high = Math.max(...values);
  const span = high - low || 1;
  for (const path of $("map").querySelectorAll("path.state")) {
    const s = view.byState.get(path.dataset.state);
    path.style.fill = s ? colour((s.avg_temperature - low) / span) : "";
    path.dataset.avg = s ? s.avg_temperature.toFixed(3) : "";
    path.setAttribute("aria-label", describe(path.dataset.state).join(", ").replace(/ {2}| · /g, ", "));
  }
  $("legend-min").textContent = values.length ? fmt1.format(low) + "°" : "";
  $("legend-max").textContent = values.length ? fmt1.format(high) + "°" : "";
  if (view.tip && !$("tooltip").hidden) fillTooltip(view.tip);
}

function fillTooltip(code) {
  const tip = $("tooltip");
  tip.replaceChildren(...describe(code).map((line) => {
    const div = document.createElement("div");
    div.textContent = line;
    return div;
  }));
}

function showTooltip(code, x, y) {
  const tip = $("tooltip");
  view.tip = code;
  fillTooltip(code);
  tip.hidden = false;
  // Beside the pointer (or the focused state's centre), kept inside the window.
  const left = Math.min(x + 14, window.innerWidth - tip.offsetWidth - 4);
  const top = Math.min(y + 14, window.innerHeight - tip.offsetHeight - 4);
  tip.style.left = Math.max(4, left) + "px";
  tip.style.top = Math.max(4, top) + "px";
}

function hideTooltip() {
  view.tip = null;
  $("tooltip").hidden = true;
}

// ---- table -----------------------------------------------------------------------------------

function renderTable() {
  const { key, desc } = view.sort;
  const rows = [...view.byState.values()].sort((a, b) => {
    const order = typeof a[key] === "string" ? a[key].localeCompare(b[key]) : a[key] - b[key];
    return (desc ? -order : order) || a.state.localeCompare(b.state);
  });
  const body = document.createElement("tbody");
  for (const s of rows) {
    const tr = document.createElement("tr");
    tr.dataset.state = s.state;
    const cells = [s.state, fmt1.format(s.avg_temperature), fmt1.format(s.min_temperature),
      fmt1.format(s.max_temperature), fmt.format(s.messages), fmt.format(s.sensors)];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    tr.title = NAMES[s.state] || s.state;
    tr.addEventListener("mouseenter", () => highlight(s.state, true));
    tr.addEventListener("mouseleave", () => highlight(s.state, false));
    tr.addEventListener("click", () => selectState(s.state));
    body.appendChild(tr);
  }
  $("states").replaceChild(body, $("states").tBodies[0]);
  markSort();
}

function markSort() {
  const { key, desc } = view.sort;
  for (const th of $("states").tHead.rows[0].cells) {
    th.setAttribute("aria-sort", th.dataset.key === key ? (desc ? "descending" : "ascending") : "none");
  }
}

function highlight(code, on) {
  const path = $("map").querySelector(`path[data-state="${code}"]`);
  if (path) path.style.stroke = on ? "#1d2330" : "";
}

function setupSorting() {
  for (const th of $("states").tHead.rows[0].cells) {
    const sort = () => {
      const key = th.dataset.key;
      view.sort = { key, desc: view.sort.key === key ? !view.sort.desc : th.dataset.type !== "text" };
      renderTable();
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault(); // Space would scroll the page
        sort();
      }
    });
  }
  markSort();
}

// ---- charts ----------------------------------------------------------------------------------

// One line per label, as short as the tick spacing allows, and ticks far enough apart that labels
// never touch (uPlot's default two-line labels overlap on a narrow chart).
const CLOCK = uPlot.fmtDate("{HH}:{mm}:{ss}");
const MINUTES = uPlot.fmtDate("{HH}:{mm}");
const DAY = uPlot.fmtDate("{M}/{D}");
const MINUTE = 60, HOUR = 3600, DAYS = 86400;
const timeAxis = () => ({
  space: 80,
  // Whole seconds and up: a chart of a few seconds would otherwise repeat a label per half second.
  incrs: [1, 2, 5, 10, 15, 30, MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
    HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAYS, 2 * DAYS, 7 * DAYS, 14 * DAYS, 28 * DAYS],
  values: (u, splits, axis, space, incr) => {
    const format = incr < MINUTE ? CLOCK : incr < DAYS ? MINUTES : DAY;
    return splits.map((t) => (t == null ? "" : format(new Date(t * 1000))));
  },
});

function makeCharts() {
  const width = (id) => Math.max(300, $(id).clientWidth - 10);
  view.charts.rate = new uPlot({
    width: width("rate-chart"), height: 220,
    scales: { y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
    padding: [null, 30, null, null], // room for the last time label, as there is no right axis
    series: [{}, { label: "readings/s", stroke: "#2b6cb0", fill: "rgba(43,108,176,.12)", width: 1.5 }],
    axes: [timeAxis(), { size: 70 }],
  }, [[], []], $("rate-chart"));
  view.charts.results = new uPlot({
    width: width("results-chart"), height: 220,
    series: [{}, { label: "messages", stroke: "#6b7280", scale: "n", width: 1.5 },
      { label: "mean °", stroke: "#c2410c", scale: "t", width: 1.5 }],
    axes: [timeAxis(), { scale: "n", size: 70 }, { scale: "t", side: 1, grid: { show: false } }],
  }, [[], [], []], $("results-chart"));
  window.addEventListener("resize", () => {
    view.charts.rate.setSize({ width: width("rate-chart"), height: 220 });
    view.charts.results.setSize({ width: width("results-chart"), height: 220 });
  });
}

// Final results, one point per window at its end; a window's newest revision replaces the earlier.
function drawResults() {
  if (past.range) return; // the chart shows a range from the store
  const finals = [...view.windows.values()].filter((w) => w.final).sort((a, b) => a.end - b.end);
  view.charts.results.setData([finals.map((w) => w.end), finals.map((w) => w.messages), finals.map((w) => w.mean)]);
  $("results-chart").dataset.windows = finals.length;
  $("results-chart").dataset.source = "live";
}

// Readings per second between consecutive stats records.
function drawRate() {
  const records = [...view.stats.values()].sort((a, b) => a.t - b.t);
  const times = [], rates = [];
  for (let i = 1; i < records.length; i++) {
    const dt = records[i].t - records[i - 1].t;
    if (dt <= 0) continue;
    times.push(records[i].t);
    rates.push(Math.max(0, (records[i].readings - records[i - 1].readings) / dt));
  }
  view.charts.rate.setData([times, rates]);
  if (rates.length) $("t-rate").textContent = fmt.format(Math.round(rates[rates.length - 1]));
  $("rate-chart").dataset.points = times.length;
}

// Keeps the newest `limit` entries of `map` by `time`.
function trim(map, limit, time) {
  while (map.size > limit) {
    let oldest = null;
    for (const [key, value] of map) if (oldest === null || time(value) < time(map.get(oldest))) oldest = key;
    map.delete(oldest);
  }
}

// ---- events ----------------------------------------------------------------------------------

// How far along a window's results are: partial < final < revision 1 < revision 2 …; among
// partials of the same window (and as a tie-breaker), the one that counted more readings is newer.
const rank = (result) => (result.final === false ? 0 : 1 + (result.revision || 0));
const newer = (a, b) => rank(a) > rank(b) || (rank(a) === rank(b) && a.messages >= b.messages);

function onWindow(result, redraw = true) {
  const key = result.window_start + "|" + result.window_end;
  const kept = view.windows.get(key);
  if (kept && !newer(result, kept.result)) return; // seen already, or older than what is shown
  const total = result.states.reduce((sum, s) => sum + s.avg_temperature * s.messages, 0);
  view.windows.set(key, {
    result: { final: result.final, revision: result.revision, messages: result.messages },
    final: result.final !== false,
    end: seconds(result.window_end),
    messages: result.messages,
    mean: result.messages ? total / result.messages : null,
    // Each state's average, minimum and maximum, for a clicked state's chart without a store.
    states: Object.fromEntries(result.states.map((s) => [s.state, [s.avg_temperature, s.min_temperature, s.max_temperature]])),
  });
  trim(view.windows, HISTORY, (w) => w.end);
  view.dirty.add("results");
  // The newest window wins the map and table; updates of older windows (late data) only chart.
  if (!view.latest || seconds(result.window_end) >= seconds(view.latest.window_end)) {
    view.latest = result;
    view.dirty.add("latest");
  }
  if (redraw) render();
}

function onStats(stats, redraw = true) {
  if (view.stats.has(stats.at)) return;
  view.stats.set(stats.at, { t: seconds(stats.at), readings: stats.readings });
  trim(view.stats, HISTORY + 1, (s) => s.t);
  view.dirty.add("rate");
  // Older records (history) only chart.
  if (!view.current || seconds(stats.at) > seconds(view.current.at)) {
    view.current = stats;
    view.dirty.add("current");
  }
  if (redraw) render();
}

// Draws what changed since the last time: once per live event, once after a backfill.
function render() {
  const dirty = view.dirty;
  view.dirty = new Set();
  if (dirty.has("latest")) showLatest();
  if (dirty.has("current")) showStats();
  if (dirty.has("results")) {
    drawResults();
    if (past.state && !past.range) refreshStateSoon();
  }
  if (dirty.has("rate")) drawRate();
}

function showLatest() {
  const result = view.latest;
  view.byState = new Map(result.states.map((s) => [s.state, s]));
  paintMap();
  renderTable();
  const kind = result.final === false ? "partial" : (result.revision ? `revision ${result.revision}` : "final");
  $("window-line").textContent = `window ${result.window_start} – ${result.window_end} (${kind}): ` +
    `${fmt.format(result.messages)} messages, ${fmt.format(result.sensors)} sensors, ${fmt.format(result.rejected)} rejected`;
}

function showStats() {
  const stats = view.current;
  $("t-readings").textContent = fmt.format(stats.readings);
  $("t-sensors").textContent = fmt.format(stats.sensors);
  $("t-offline").textContent = fmt.format(stats.offline);
  $("t-rejected").textContent = fmt.format(stats.rejected);
  const late = Object.values(stats.late_by_state || {}).reduce((a, b) => a + b, 0);
  $("t-late").textContent = fmt.format(late);
  $("t-watermark").textContent = stats.watermark ? stats.watermark.replace("T", " ") : "–";
  $("t-lag").textContent = stats.watermark ? fmt1.format(seconds(stats.at) - seconds(stats.watermark)) + " s" : "–";
  if (stats.consumer_lag !== undefined) {
    $("consumer-lag-tile").hidden = false;
    $("t-consumer-lag").textContent = fmt.format(stats.consumer_lag) + " msgs";
  }
  if (stats.scale_out) showGroup(stats.scale_out);
  const reasons = Object.entries(stats.rejected_by_reason || {}).filter(([, n]) => n > 0);
  const list = $("reasons");
  list.innerHTML = "";
  for (const [reason, n] of reasons.length ? reasons : [["none", null]]) {
    const li = document.createElement("li");
    li.textContent = n === null ? reason : `${reason}: ${fmt.format(n)}`;
    list.appendChild(li);
  }
}

// Scale-out: which instance owns which partition, with its watermark and lag, and who merges.
function showGroup(group) {
  $("group-panel").hidden = false;
  const role = group.merging ? "this instance merges the group's results" : "another instance merges the group's results";
  const watermark = group.watermark ? group.watermark.replace("T", " ") : "–";
  $("group-line").textContent = `${group.instance}: ${role}; global watermark ${watermark}; ` +
    `${fmt.format(group.open_windows)} windows held; merge log read to ${fmt.format(group.log_offset)}`;
  const body = $("group-table").tBodies[0];
  body.innerHTML = "";
  for (const p of group.partitions) {
    const row = body.insertRow();
    const mine = p.owner === group.instance ? " (this instance)" : "";
    const cells = [p.partition, (p.owner || "–") + mine, p.watermark ? p.watermark.replace("T", " ") : "–",
      p.lag === undefined ? "–" : fmt.format(p.lag), p.caught_up ? "yes" : "no"];
    for (const value of cells) row.insertCell().textContent = String(value);
  }
}

function apply(kind, data, redraw) {
  const value = JSON.parse(data);
  if (kind === "window") onWindow(value, redraw);
  else onStats(value, redraw);
}

// An event from the stream: applied now, or after the backfill under way.
function deliver(kind, data) {
  if (stream.buffer) stream.buffer.push([kind, data]);
  else apply(kind, data, true);
}

// Loads the recent results and stats records, then what the stream delivered meanwhile. Runs each
// time the stream (re)opens, so whatever was emitted while it was down fills in; duplicates drop
// out by window and by `at`, so the order in which things arrive does not matter.
async function backfill() {
  const generation = ++stream.generation;
  if (!stream.buffer) stream.buffer = [];
  const [windows, stats] = await Promise.allSettled([
    getJSON(`/api/windows?limit=${HISTORY}`), getJSON(`/api/stats?limit=${HISTORY}`)]);
  const failed = [];
  if (windows.status === "fulfilled") for (const result of windows.value) onWindow(result, false);
  else failed.push(windows.reason.message);
  if (stats.status === "fulfilled") for (const record of stats.value) onStats(record, false);
  else failed.push(stats.reason.message);
  if (generation === stream.generation) { // a later backfill, if any, flushes instead
    const buffered = stream.buffer;
    stream.buffer = null;
    for (const [kind, data] of buffered) apply(kind, data, false);
  }
  render();
  note("history-error", failed.length ? "History could not be loaded (" + failed.join("; ") + "); showing live values only." : "");
  view.syncs += 1;
  document.body.dataset.syncs = view.syncs;
}

function setBadge(state, text) {
  const badge = $("connection");
  badge.dataset.state = state;
  badge.textContent = text;
}

function connect() {
  const source = new EventSource("/api/events");
  stream.source = source;
  source.addEventListener("open", () => {
    setBadge("live", "live");
    stream.retry = 1000;
    if (stream.opened) {
      view.reconnects += 1;
      document.body.dataset.reconnects = view.reconnects;
    }
    stream.opened = true;
    backfill(); // subscribed first, so nothing emitted from now on is missed
    loadAlerts();
  });
  source.addEventListener("error", () => {
    if (source.readyState !== EventSource.CLOSED) {
      setBadge("reconnecting", "reconnecting…"); // the browser retries by itself
      return;
    }
    // Refused (e.g. too many open dashboards): the browser gives up, so try again later ourselves.
    setBadge("reconnecting", "offline, retrying…");
    if (!stream.opened && !view.syncs) backfill(); // show the history at least
    setTimeout(connect, stream.retry);
    stream.retry = Math.min(30000, stream.retry * 2);
  });
  source.addEventListener("window", (e) => deliver("window", e.data));
  source.addEventListener("stats", (e) => deliver("stats", e.data));
  source.addEventListener("alert", (e) => onAlert(JSON.parse(e.data)));
}

// ---- alerts: those firing now and the latest transitions, live over the event stream ---------

const RECENT_ALERTS_SHOWN = 20;
const alerts = { active: new Map(), recent: [] }; // active by fingerprint; recent oldest first

function onAlert(record) {
  if (record.status === "firing") alerts.active.set(record.fingerprint, record);
  else alerts.active.delete(record.fingerprint);
  alerts.recent.push(record);
  if (alerts.recent.length > 200) alerts.recent.shift();
  renderAlerts();
}

// What fires now and the latest transitions, from the server: on load and on every reconnect
// (whatever happened while the stream was down).
async function loadAlerts() {
  try {
    const loaded = await getJSON("/api/alerts");
    alerts.active = new Map(loaded.active.map((r) => [r.fingerprint, r]));
    alerts.recent = loaded.recent;
    renderAlerts();
  } catch (error) {
    // No alerts endpoint or no rules: the panel stays hidden.
  }
}

function renderAlerts() {
  if (!alerts.active.size && !alerts.recent.length) return;
  $("alerts-panel").hidden = false;
  const count = $("alerts-count");
  count.dataset.state = alerts.active.size ? "firing" : "ok";
  count.textContent = alerts.active.size ? `${fmt.format(alerts.active.size)} firing` : "none firing";
  const body = $("alerts-active").tBodies[0];
  body.innerHTML = "";
  const active = [...alerts.active.values()].sort((a, b) => (a.rule + a.key).localeCompare(b.rule + b.key));
  for (const a of active) {
    const row = body.insertRow();
    row.className = `sev-${a.severity}`;
    row.dataset.rule = a.rule;
    row.dataset.key = a.key;
    for (const value of [a.rule, a.key, a.severity, a.at.replace("T", " "), number(a.value), number(a.threshold)]) {
      row.insertCell().textContent = value;
    }
  }
  const list = $("alerts-recent");
  list.innerHTML = "";
  for (const a of alerts.recent.slice(-RECENT_ALERTS_SHOWN).reverse()) {
    const item = document.createElement("li");
    item.className = a.status;
    item.textContent = `${a.at.replace("T", " ")} ${a.rule} ${a.key} ${a.status} (${number(a.value)})`;
    list.appendChild(item);
  }
}

function number(x) {
  return typeof x === "number" ? (Math.round(x * 100) / 100).toString() : "–";
}

// ---- history: time ranges from the store, a state's own chart ----------------------------------

const LIVE_STATE_SPAN = 15 * 60; // seconds of store history a clicked state shows in live mode
const past = {
  available: false, // the run keeps results in a store (/api/info says)
  range: null, // null: live; { span } seconds up to now; { from, to } Dates (custom)
  timer: null, // refreshes a range that ends now
  state: null, // the clicked state
  asked: 0, // only the latest answer of each chart is drawn
  askedState: 0,
  stateDue: 0, // when the state's chart may be refreshed again in live mode
};

function bounds(range) {
  if (range && range.from) return { from: range.from, to: range.to };
  const to = new Date();
  return { from: new Date(to - 1000 * (range ? range.span : LIVE_STATE_SPAN)), to };
}

function historyURL(range, state) {
  const { from, to } = bounds(range);
  const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
  if (state) query.set("state", state);
  return "/api/history?" + query;
}

const spanText = (seconds) => seconds < 60 ? `${seconds} s` : seconds < 3600 ? `${Math.round(seconds / 60)} min`
  : seconds < 86400 ? `${Math.round(seconds / 3600)} h` : `${Math.round(seconds / 86400)} d`;

function setupRange() {
  for (const button of $("range").querySelectorAll("button")) {
    button.addEventListener("click", () => {
      const which = button.dataset.range;
      if (which === "custom") return showCustom();
      $("custom-range").hidden = true;
      setRange(which === "live" ? null : { span: Number(which) }, which);
    });
  }
  $("custom-range").addEventListener("submit", (event) => {
    event.preventDefault();
    const from = new Date($("range-from").value), to = new Date($("range-to").value);
    if (!(from < to)) return note("range-note", "The start of a custom range must come before its end.");
    setRange({ from, to }, "custom");
  });
  $("state-close").addEventListener("click", closeState);
}

// Local time as a datetime-local input shows it.
const localInput = (date) => new Date(date - date.getTimezoneOffset() * 60000).toISOString().slice(0, 19);

function showCustom() {
  const { from, to } = bounds(past.range || { span: 3600 });
  $("range-from").value = localInput(from);
  $("range-to").value = localInput(to);
  $("custom-range").hidden = false;
  $("range-from").focus();
}

function setRange(range, which) {
  past.range = range;
  for (const button of $("range").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === which));
  }
  clearInterval(past.timer);
  if (range && range.span) past.timer = setInterval(refreshHistory, 10000); // it ends now: keep up
  refreshHistory();
}

async function refreshHistory() {
  if (past.state) loadStateChart();
  if (!past.range) {
    note("range-note", "");
    view.dirty.add("results");
    return render();
  }
  const mine = ++past.asked;
  try {
    const series = await getJSON(historyURL(past.range));
    if (mine === past.asked && past.range) drawHistory(series);
  } catch (error) {
    if (mine === past.asked) note("range-note", `The stored results could not be loaded (${error.message}).`);
  }
}

// The columns of `series` (time first), with a null wherever no window ended for longer than two
// windows or buckets, so that a stretch without results (the engine was stopped) shows as a gap
// instead of a line across it.
function withGaps(series, columns) {
  const apart = 2 * Math.max(series.step, view.windowSeconds || 0);
  const out = [[], ...columns.map(() => [])];
  series.time.forEach((t, i) => {
    if (i > 0 && t - series.time[i - 1] > apart) {
      out[0].push(series.time[i - 1] + apart / 2);
      columns.forEach((_, c) => out[c + 1].push(null));
    }
    out[0].push(t);
    columns.forEach((column, c) => out[c + 1].push(column[i]));
  });
  return out;
}

// The store's buckets: mean messages per window and the mean temperature of each.
function drawHistory(series) {
  const perWindow = series.messages.map((m, i) => (series.windows[i] ? m / series.windows[i] : null));
  view.charts.results.setData(withGaps(series, [perWindow, series.avg_temperature]));
  const chart = $("results-chart");
  chart.dataset.source = "history";
  chart.dataset.points = series.time.length;
  const windows = series.windows.reduce((a, b) => a + b, 0);
  note("range-note", series.time.length
    ? `${fmt.format(windows)} stored windows, one point per ${spanText(series.step)}`
    : "No stored results in this range.");
}

function makeStateChart() {
  const width = () => Math.max(300, $("state-chart").clientWidth - 10);
  view.charts.state = new uPlot({
    width: width(), height: 220,
    series: [{}, { label: "avg °", stroke: "#c2410c", width: 1.5 },
      { label: "min °", stroke: "#2b6cb0", width: 1, dash: [4, 3] },
      { label: "max °", stroke: "#b42318", width: 1, dash: [4, 3] }],
    axes: [timeAxis(), { size: 60 }],
  }, [[], [], [], []], $("state-chart"));
  window.addEventListener("resize", () => view.charts.state.setSize({ width: width(), height: 220 }));
}

function selectState(code) {
  past.state = code;
  for (const path of $("map").querySelectorAll("path.state")) path.classList.toggle("selected", path.dataset.state === code);
  $("state-panel").hidden = false;
  $("state-title").textContent = `${NAMES[code] || code} (${code}) over time`;
  if (!view.charts.state) makeStateChart();
  loadStateChart();
}

function closeState() {
  past.state = null;
  $("state-panel").hidden = true;
  for (const path of $("map").querySelectorAll("path.state.selected")) path.classList.remove("selected");
}

// Live mode refreshes a clicked state's chart as results come, at most every few seconds.
function refreshStateSoon() {
  const now = Date.now();
  if (now < past.stateDue) return;
  past.stateDue = now + (past.available ? 3000 : 0);
  loadStateChart();
}

async function loadStateChart() {
  const code = past.state;
  const mine = ++past.askedState;
  let series;
  if (past.available) {
    try {
      series = await getJSON(historyURL(past.range, code));
    } catch (error) {
      if (mine === past.askedState) note("state-note", `${code}'s stored results could not be loaded (${error.message}).`);
      return;
    }
  } else {
    series = liveSeries(code);
  }
  if (mine !== past.askedState || code !== past.state) return;
  view.charts.state.setData(withGaps(series, [series.avg_temperature, series.min_temperature, series.max_temperature]));
  const chart = $("state-chart");
  chart.dataset.state = code;
  chart.dataset.points = series.time.length; // the gap markers are not points
  const where = past.available ? (past.range ? "stored results in the chosen range" : `stored results of the last ${spanText(LIVE_STATE_SPAN)}`)
    : "the results of this session (no store)";
  note("state-note", series.time.length ? `${series.time.length} points from ${where}` : `No readings from ${code} in ${where}.`);
}

// Without a store: the final windows this page has seen.
function liveSeries(code) {
  const series = { step: 0, time: [], avg_temperature: [], min_temperature: [], max_temperature: [] };
  const finals = [...view.windows.values()].filter((w) => w.final && w.states[code]).sort((a, b) => a.end - b.end);
  for (const w of finals) {
    const [avg, min, max] = w.states[code];
    series.time.push(w.end);
    series.avg_temperature.push(avg);
    series.min_temperature.push(min);
    series.max_temperature.push(max);
  }
  return series;
}

// ---- sensor lookup ---------------------------------------------------------------------------

function setupLookup() {
  let asked = 0; // only the latest lookup's answer is shown
  $("lookup").addEventListener("submit", async (event) => {
    event.preventDefault();
    const guid = $("guid").value.trim();
    if (!guid) return;
    const mine = ++asked;
    const out = $("sensor");
    const show = (text, failed) => {
      if (mine !== asked) return;
      out.textContent = text;
      out.classList.toggle("error", failed);
    };
    show("looking up…", false);
    try {
      const response = await fetch("/api/sensors/" + encodeURIComponent(guid), { credentials: "same-origin" });
      const why = response.ok ? "" : (await response.text()).trim();
      if (response.ok) show(JSON.stringify(await response.json(), null, 2), false);
      else if (response.status === 404) show(`Sensor “${guid}” not found${why ? ": " + why : ""}.`, true);
      else if (response.status === 503) show(`Lookup unavailable (503)${why ? ": " + why : ""}`, true);
      else show(`Lookup failed (${response.status})${why ? ": " + why : ""}`, true);
    } catch (error) {
      show(`Lookup failed: the server could not be reached (${error.message}).`, true);
    }
  });
}

// ---- start -----------------------------------------------------------------------------------

async function loadInfo() {
  try {
    const info = await getJSON("/api/info");
    const slide = info.slide_seconds !== info.window_seconds ? `, sliding every ${info.slide_seconds}s` : "";
    const stored = info.history ? " · results stored" : "";
    $("run-info").textContent = `v${info.version} · ${info.source} · ${info.time} time, ${info.window_seconds}s windows${slide}${stored}`;
    past.available = Boolean(info.history);
    view.windowSeconds = info.slide_seconds;
    $("range").hidden = !past.available;
    if (info.queries) {
      // A run of SQL queries computes none of the seed's analyses this page draws.
      $("window-line").textContent = `this run answers SQL queries (${info.queries.join(", ")}), not the ` +
        "seed's analyses: their rows go to the run's outputs (--format, --store, --results-topic; " +
        "`iotstream history --query NAME` reads stored ones); totals and throughput below are live";
    }
  } catch (error) {
    $("run-info").textContent = "run details unavailable";
  }
}

async function loadMap() {
  try {
    await drawMap();
  } catch (error) {
    $("map").style.display = "none";
    $("legend").style.display = "none";
    note("map-error", `The map could not be loaded (${error.message}); the table still shows every state.`);
  }
}

function main() {
  setupSorting();
  setupLookup();
  setupRange();
  makeCharts();
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") hideTooltip(); });
  // Each part loads on its own: one failing leaves the others working.
  connect(); // history loads once the stream is open (see backfill)
  loadInfo();
  loadMap();
}

// For the browser test and the curious: the page's state.
window.dashboard = {
  view,
  receive: deliver, // as if the stream had sent it: (kind, JSON text)
  past, // the chosen range and state
  alerts, // active alerts and recent transitions
  windows: () => [...view.windows.entries()].map(([key, w]) => ({ key, end: w.end, final: w.final, rank: rank(w.result) }))
    .sort((a, b) => a.end - b.end),
};

main();
