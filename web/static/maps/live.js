// Live layer updates for the command-centre map: server-sent events from /v1/live.
// Keeps a bounded window in memory so a wall screen can run for days.
window.addEventListener("load", function () {
  "use strict";
  var cfg = window.GRIDGOV;
  var map = window[cfg.map];
  L.control.scale({ imperial: false }).addTo(map); // metres and kilometres only
  var heat = window[cfg.heat];
  var escalations = window[cfg.escalations];
  var live = [];
  var markers = [];
  var byCase = {};
  var state = (window.gridgovLive = { count: 0, escalations: 0, connected: false, points: 0 });
  var badge = document.getElementById("gridgov-live");
  var grids = window[cfg.grids];
  var VALUES_MS = 60000; // the grids' numbers are fetched again each minute (the tiles stay)

  grids.followWithTooltip(map, cfg.metricLabel, function (v) {
    if (v === null || v === undefined) return "—";
    return cfg.rate ? Math.round(v * 100) + "%" : String(v);
  });
  function refreshValues() {
    fetch(cfg.values, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (body) grids.setValues(body.values);
      })
      .catch(function () {}) // the API is away: the next minute tries again
      .then(function () { setTimeout(refreshValues, VALUES_MS); });
  }
  setTimeout(refreshValues, VALUES_MS);

  function redraw() {
    heat.setLatLngs(cfg.base.concat(live));
    state.points = live.length;
  }

  function onLocated(e) {
    if (e.kind !== "incident" || e.lat === null) return;
    live.push([e.lat, e.lon, 1]);
    if (live.length > cfg.maxPoints) live.splice(0, live.length - cfg.maxPoints);
    state.count += 1;
    redraw();
  }

  function onEscalation(e) {
    if (e.lat === null || e.lat === undefined) return;
    var marker = L.circleMarker([e.lat, e.lon], { radius: 7, color: "#7b1fa2", fillOpacity: 0.9 })
      .bindPopup("<b>" + e.to_level + "</b><br>" + e.grid + "<br><a href='/v1/cases/" + e.case_id +
                 "' target='_blank'>JSON</a>");
    marker.addTo(escalations);
    if (byCase[e.case_id]) escalations.removeLayer(byCase[e.case_id]);
    byCase[e.case_id] = marker;
    marker.caseId = e.case_id;
    markers.push(marker);
    if (markers.length > 500) {
      var old = markers.shift();
      escalations.removeLayer(old);
      if (byCase[old.caseId] === old) delete byCase[old.caseId];
    }
    state.escalations += 1;
  }

  function onTransition(e) {
    // A closed case leaves the map of escalations.
    if (e.to_state === "closed" && byCase[e.case_id]) {
      escalations.removeLayer(byCase[e.case_id]);
      delete byCase[e.case_id];
    }
    state.transitions = (state.transitions || 0) + 1;
  }

  function connect() {
    var source = new EventSource("/v1/live" + (cfg.area ? "?area=" + encodeURIComponent(cfg.area) : ""));
    source.addEventListener("ready", function () { // the feed reads: from now on nothing is missed
      state.connected = true;
      if (badge) badge.style.color = "#2e7d32";
    });
    source.onmessage = function (message) {
      var e = JSON.parse(message.data);
      if (e.type === "located") onLocated(e);
      else if (e.type === "escalation") onEscalation(e);
      else if (e.type === "transition") onTransition(e);
    };
    source.onerror = function () {
      state.connected = false;
      if (badge) badge.style.color = "#c62828";
      if (source.readyState === EventSource.CLOSED) setTimeout(reconnect, 2000); // else the browser retries
    };
  }

  // A wall screen runs all day: when the sign-in has expired, go to the sign-in page and come back.
  function reconnect() {
    fetch("/v1/me", { credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) {
          window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
        } else {
          connect();
        }
      })
      .catch(function () {
        setTimeout(reconnect, 2000); // the API is away: keep trying
      });
  }

  cfg.markers.forEach(function (m) {
    byCase[m.id] = L.circleMarker([m.lat, m.lon], { radius: 7, color: "#7b1fa2", fillOpacity: 0.9 })
      .bindPopup(m.popup)
      .addTo(escalations);
  });
  // The grids are painted first; once they are on the screen, the outlines of streets and communities (and
  // overlays) and the heat of the window so far (from the page), each drawn once: the heat alone takes
  // ~75 ms at 10,000 grids, which would hold the grids back a frame.
  function showTheRest() {
    cfg.later.forEach(function (name) { map.addLayer(window[name]); });
    redraw();
    map.addLayer(heat);
    window.requestAnimationFrame(function () { // on the screen two frames later, as the grids
      window.requestAnimationFrame(function () { state.allDrawnAt = performance.now(); });
    });
  }
  if (grids.shownAt) showTheRest();
  else grids.once("shown", showTheRest);
  connect();
});
