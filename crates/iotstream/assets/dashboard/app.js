// iotstream dashboard: draws the latest result on a map and a table, totals and charts from the
// status stream, all fed by server-sent events from /api/events. No framework, no network access
// beyond this server.
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
const HISTORY = 300; // points kept per chart

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat("en-US");
const fmt1 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const seconds = (time) => Date.parse(time) / 1000;

const view = {
  latest: null, // the result shown on the map and table
  byState: new Map(),
  sort: { key: "avg_temperature", desc: true },
  previousStatus: null,
  rate: [[], []], // time, readings/s
  results: [[], [], []], // window end, messages, mean temperature
  charts: {},
};

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
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
    path.dataset.state = code;
    path.addEventListener("mousemove", (event) => showTooltip(code, event));
    path.addEventListener("mouseleave", hideTooltip);
    svg.appendChild(path);
  }
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

function paintMap() {
  const values = [...view.byState.values()].map((s) => s.avg_temperature);
  const low = Math.min(...values), high = Math.max(...values);
  const span = high - low || 1;
  for (const path of $("map").querySelectorAll("path.state")) {
    const s = view.byState.get(path.dataset.state);
    path.style.fill = s ? colour((s.avg_temperature - low) / span) : "";
    path.dataset.avg = s ? s.avg_temperature.toFixed(3) : "";
  }
  $("legend-min").textContent = values.length ? fmt1.format(low) + "°" : "";
  $("legend-max").textContent = values.length ? fmt1.format(high) + "°" : "";
}

function showTooltip(code, event) {
  const s = view.byState.get(code);
  const tip = $("tooltip");
  tip.innerHTML = "";
  const lines = [`${NAMES[code] || code} (${code})`];
  if (s) {
    lines.push(`avg ${fmt1.format(s.avg_temperature)}°  min ${fmt1.format(s.min_temperature)}°  max ${fmt1.format(s.max_temperature)}°`);
    lines.push(`${fmt.format(s.messages)} messages · ${fmt.format(s.sensors)} sensors`);
  } else {
    lines.push("no readings in this window");
  }
  for (const line of lines) {
    const div = document.createElement("div");
    div.textContent = line;
    tip.appendChild(div);
  }
  tip.hidden = false;
  tip.style.left = event.clientX + 14 + "px";
  tip.style.top = event.clientY + 14 + "px";
}

function hideTooltip() {
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
    body.appendChild(tr);
  }
  $("states").replaceChild(body, $("states").tBodies[0]);
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
    th.addEventListener("click", () => {
      const key = th.dataset.key;
      view.sort = { key, desc: view.sort.key === key ? !view.sort.desc : th.dataset.type !== "text" };
      renderTable();
    });
  }
}

// ---- charts ----------------------------------------------------------------------------------

function makeCharts() {
  const width = (id) => Math.max(300, $(id).clientWidth - 10);
  view.charts.rate = new uPlot({
    width: width("rate-chart"), height: 220,
    scales: { y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
    series: [{}, { label: "readings/s", stroke: "#2b6cb0", fill: "rgba(43,108,176,.12)", width: 1.5 }],
    axes: [{}, { size: 70 }],
  }, view.rate, $("rate-chart"));
  view.charts.results = new uPlot({
    width: width("results-chart"), height: 220,
    series: [{}, { label: "messages", stroke: "#6b7280", scale: "n", width: 1.5 },
      { label: "mean °", stroke: "#c2410c", scale: "t", width: 1.5 }],
    axes: [{}, { scale: "n", size: 70 }, { scale: "t", side: 1, grid: { show: false } }],
  }, view.results, $("results-chart"));
  window.addEventListener("resize", () => {
    view.charts.rate.setSize({ width: width("rate-chart"), height: 220 });
    view.charts.results.setSize({ width: width("results-chart"), height: 220 });
  });
}

function push(columns, values) {
  values.forEach((v, i) => columns[i].push(v));
  if (columns[0].length > HISTORY) columns.forEach((c) => c.shift());
}

// ---- events ----------------------------------------------------------------------------------

function onWindow(result) {
  // The newest window wins the map and table; updates of older windows (late data) only chart.
  if (!view.latest || result.window_end >= view.latest.window_end) {
    view.latest = result;
    view.byState = new Map(result.states.map((s) => [s.state, s]));
    paintMap();
    renderTable();
    const kind = result.final === false ? "partial" : (result.revision ? `revision ${result.revision}` : "final");
    $("window-line").textContent = `window ${result.window_start} – ${result.window_end} (${kind}): ` +
      `${fmt.format(result.messages)} messages, ${fmt.format(result.sensors)} sensors, ${fmt.format(result.rejected)} rejected`;
  }
  if (result.final !== false && !result.revision) {
    const total = result.states.reduce((sum, s) => sum + s.avg_temperature * s.messages, 0);
    const mean = result.messages ? total / result.messages : null;
    push(view.results, [seconds(result.window_end), result.messages, mean]);
    view.charts.results.setData(view.results);
  }
}

function onStats(stats) {
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
  const previous = view.previousStatus;
  if (previous) {
    const dt = seconds(stats.at) - seconds(previous.at);
    if (dt > 0) {
      const rate = Math.max(0, (stats.readings - previous.readings) / dt);
      $("t-rate").textContent = fmt.format(Math.round(rate));
      push(view.rate, [seconds(stats.at), rate]);
      view.charts.rate.setData(view.rate);
    }
  }
  view.previousStatus = stats;
  const reasons = Object.entries(stats.rejected_by_reason || {}).filter(([, n]) => n > 0);
  const list = $("reasons");
  list.innerHTML = "";
  for (const [reason, n] of reasons.length ? reasons : [["none", null]]) {
    const li = document.createElement("li");
    li.textContent = n === null ? reason : `${reason}: ${fmt.format(n)}`;
    list.appendChild(li);
  }
}

function connect() {
  const badge = $("connection");
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => { badge.dataset.state = "live"; badge.textContent = "live"; });
  events.addEventListener("error", () => { badge.dataset.state = "reconnecting"; badge.textContent = "reconnecting…"; });
  events.addEventListener("window", (e) => onWindow(JSON.parse(e.data)));
  events.addEventListener("stats", (e) => onStats(JSON.parse(e.data)));
}

function setupLookup() {
  $("lookup").addEventListener("submit", async (event) => {
    event.preventDefault();
    const guid = $("guid").value.trim();
    if (!guid) return;
    const response = await fetch("/api/sensors/" + encodeURIComponent(guid), { credentials: "same-origin" });
    $("sensor").textContent = response.ok ? JSON.stringify(await response.json(), null, 2) : (await response.text()).trim();
  });
}

async function main() {
  setupSorting();
  setupLookup();
  makeCharts();
  try {
    const info = await getJSON("/api/info");
    const slide = info.slide_seconds !== info.window_seconds ? `, sliding every ${info.slide_seconds}s` : "";
    $("run-info").textContent = `v${info.version} · ${info.source} · ${info.time} time, ${info.window_seconds}s windows${slide}`;
    await drawMap();
    for (const result of await getJSON("/api/windows?limit=200")) onWindow(result);
    for (const status of await getJSON("/api/stats")) onStats(status);
  } catch (error) {
    $("window-line").textContent = "could not load: " + error.message;
  }
  connect();
}

main();
