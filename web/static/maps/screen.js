// The command centre's wall screen: tiles from /v1/indicators, trends, ranking and category mix drawn with
// Apache ECharts, the map of open cases per grid, and a live ticker pushed by the server (/v1/live).
// It runs all day: charts are redrawn in place, the ticker and the map's points are bounded, and after an
// API restart it reconnects and refreshes by itself.
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("screen-config").textContent);
  const text = cfg.labels;
  const REFRESH_MS = 60000; // the numbers, the trends and the map
  const RETRY_MS = 5000; // after a failed refresh
  const TICKER_ROWS = 40;
  const MAX_POINTS = 500; // live points on the map
  const TILES = {
    received_today: (i) => i.received,
    awaiting_intake: (i, b) => b.awaiting_intake, // from the backlog: now
    intake_overdue: (i, b) => b.intake_overdue,
    open: (i) => i.open,
    overdue: (i) => i.overdue,
    closure_rate: (i) => i.closure_rate,
    on_time_closure_rate: (i) => i.on_time_closure_rate,
    in_grid_closure_rate_minor: (i) => i.in_grid_closure_rate_minor,
    patrol_coverage: (i) => i.patrol_coverage,
  };
  const RATES = new Set(["closure_rate", "on_time_closure_rate", "in_grid_closure_rate_minor", "patrol_coverage"]);
  const state = { tiles: {}, day: null, ticker: 0, connected: false, refreshed: 0, errors: 0 };
  window.gridgovScreen = state;

  const charts = {};
  for (const id of ["ranking", "mix", "trend7", "trend30"]) {
    charts[id] = echarts.init(document.getElementById(id), "dark", { renderer: "canvas" });
    charts[id].setOption({ animation: false, backgroundColor: "transparent" }); // redrawn every minute, all day
  }
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));

  const day = (back) => new Date(Date.now() - back * 86400000).toLocaleDateString("sv-SE", { timeZone: cfg.tz });
  const percent = (r) => (r === null || r === undefined ? "—" : `${(r * 100).toFixed(1)}%`);
  const shown = (key, v) => (RATES.has(key) ? percent(v) : v === null || v === undefined ? "—" : String(v));

  async function get(path) {
    const response = await fetch(path, { credentials: "same-origin" });
    if (response.status === 401) {
      window.location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
      throw new Error("signed out");
    }
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }
  const q = (from, to) => `area=${cfg.area}&from=${from}&to=${to}`;

  function tiles(ind, backlog) {
    for (const [key, pick] of Object.entries(TILES)) {
      const value = pick(ind, backlog);
      state.tiles[key] = value;
      // Patrols are owed on working days only: on a rest day the tile says so in words.
      const rest = key === "patrol_coverage" && value === null && ind.working_days === 0;
      const tile = document.querySelector(`[data-tile="${key}"]`);
      tile.textContent = rest ? text.rest_day : shown(key, value);
      tile.classList.toggle("words", rest);
    }
    document.querySelector('[data-tile="intake_overdue"]').classList.toggle("alert", backlog.intake_overdue > 0);
  }
  function ranking(children) {
    const rows = [...children].sort(
      (a, b) => (b.on_time_closure_rate ?? -1) - (a.on_time_closure_rate ?? -1) || a.overdue - b.overdue,
    );
    const names = rows.map((c) => c.name).reverse();
    charts.ranking.setOption({
      grid: { left: 8, right: 20, top: 24, bottom: 52, containLabel: true },
      legend: { bottom: 0, data: [text.on_time_closure_rate, text.overdue] },
      tooltip: { trigger: "axis" },
      yAxis: { type: "category", data: names, axisLabel: { width: 100, overflow: "truncate" } },
      xAxis: [{ type: "value", max: 100, axisLabel: { formatter: "{value}%" } }, { type: "value", position: "top" }],
      series: [
        { name: text.on_time_closure_rate, type: "bar", xAxisIndex: 0,
          data: rows.map((c) => (c.on_time_closure_rate === null ? 0 : +(c.on_time_closure_rate * 100).toFixed(1))).reverse() },
        { name: text.overdue, type: "bar", xAxisIndex: 1, data: rows.map((c) => c.overdue).reverse() },
      ],
    });
  }
  function mix(groups) {
    charts.mix.setOption({
      tooltip: { trigger: "item" },
      // Labels wrap rather than being cut short at 1366×768; the ring leaves them the room.
      series: [{ type: "pie", radius: ["28%", "52%"], avoidLabelOverlap: true,
        label: { color: "#d8e3f0", overflow: "break", width: 76, lineHeight: 16 }, labelLine: { length: 8, length2: 6 },
        data: groups.map((g) => ({ name: g.group_name, value: g.received })) }],
    });
  }
  function trend(chart, days) {
    chart.setOption({
      grid: { left: 8, right: 16, top: 30, bottom: 8, containLabel: true },
      legend: { top: 0, data: [text.received, text.closed] },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: days.map((d) => d.day.slice(5)) },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: text.received, type: "line", data: days.map((d) => d.received) },
        { name: text.closed, type: "line", data: days.map((d) => d.closed) },
      ],
    });
  }

  // --- the map ------------------------------------------------------------------------------------
  const map = L.map("map", { preferCanvas: true, attributionControl: false, zoomSnap: 0.25, fadeAnimation: false });
  const bounds = [[cfg.bounds[1], cfg.bounds[0]], [cfg.bounds[3], cfg.bounds[2]]];
  map.fitBounds(bounds);
  // Open cases per grid: the geometry from vector tiles (fetched once), the numbers with each refresh.
  const grids = gridgovGrids({
    url: `/v1/map/tiles/{z}/{x}/{y}.mvt?area=${cfg.area}`,
    values: {},
    missing: 0,
    breaks: [0, 1, 3, 6], // none, one, two or three, four to six, more
    classes: ["#163a5f", "#1f6f8b", "#f0a500", "#e4572e", "#c1121f"],
    none: "#163a5f",
    opacity: 0.75,
    stroke: "#2c5282",
    width: 0.6,
    bounds: bounds,
  }).addTo(map);
  window.gridgovScreenGrids = grids;
  const points = L.layerGroup().addTo(map);
  function point(lat, lon, colour) {
    L.circleMarker([lat, lon], { radius: 5, color: colour, weight: 1, fillOpacity: 0.9 }).addTo(points);
    const all = points.getLayers();
    if (all.length > MAX_POINTS) points.removeLayer(all[0]);
  }

  async function refresh() {
    const today = day(0);
    try {
      const [ind, backlog, week, month, categories, layer] = await Promise.all([
        get(`/v1/indicators?${q(today, today)}`),
        get(`/v1/indicators/backlog?area=${cfg.area}`),
        get(`/v1/indicators/daily?${q(day(6), today)}`),
        get(`/v1/indicators/daily?${q(day(29), today)}`),
        get(`/v1/indicators/categories?${q(today, today)}`),
        get(`/v1/map/values?area=${cfg.area}&metric=open_cases`),
      ]);
      tiles(ind, backlog);
      ranking(ind.children);
      trend(charts.trend7, week.days);
      trend(charts.trend30, month.days);
      mix(categories.groups);
      grids.setValues(layer.values);
      state.day = today;
      state.refreshed += 1;
      setTimeout(refresh, REFRESH_MS);
    } catch (e) {
      state.errors += 1;
      setTimeout(refresh, RETRY_MS);
    }
  }

  // --- the ticker ---------------------------------------------------------------------------------
  const ticker = document.getElementById("ticker");
  function tick(line, kind) {
    const row = document.createElement("li");
    row.className = kind;
    const at = document.createElement("time");
    at.textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false, timeZone: cfg.tz });
    row.append(at, line);
    ticker.prepend(row);
    while (ticker.children.length > TICKER_ROWS) ticker.lastChild.remove();
    state.ticker += 1;
  }
  const place = (grid) => (grid ? cfg.areas[grid] || grid : ""); // a grid by its name
  function onMessage(message) {
    const e = JSON.parse(message.data);
    if (e.type === "located" && (e.kind === "incident" || e.kind === "request")) {
      tick(`${text.new_report} · ${cfg.categories[e.category] || e.category} · ${place(e.grid)}`, "report");
      state.lastReport = e.id;
      if (e.lat !== null && e.lon !== null) point(e.lat, e.lon, "#7fd1ff");
    } else if (e.type === "escalation") {
      tick(`${text.escalated}${cfg.levels[e.to_level] || e.to_level} · ${place(e.grid)}`, "escalation");
      if (e.lat !== null && e.lon !== null) point(e.lat, e.lon, "#ffcc80");
    }
  }
  function status() {
    const badge = document.getElementById("status");
    badge.textContent = state.connected ? "● LIVE" : text.offline;
    badge.className = state.connected ? "status on" : "status off";
  }
  function connect() {
    const source = new EventSource(`/v1/live?area=${cfg.area}`);
    source.addEventListener("ready", () => { state.connected = true; status(); }); // the feed reads: nothing missed
    source.onmessage = onMessage;
    source.onerror = () => {
      state.connected = false;
      status();
      if (source.readyState === EventSource.CLOSED) setTimeout(reconnect, 2000); // else the browser retries
    };
  }
  function reconnect() {
    fetch("/v1/me", { credentials: "same-origin" })
      .then((r) => (r.status === 401 ? (location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`) : connect()))
      .catch(() => setTimeout(reconnect, 2000));
  }

  setInterval(() => (document.getElementById("clock").textContent = new Date().toLocaleString("zh-CN", { timeZone: cfg.tz, hour12: false })), 1000);
  status();
  connect();
  refresh();
})();
