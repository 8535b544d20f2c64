// The gridworker's phone app: the day (grid, position, patrol, visits), the report form, the cases given to
// them, and the outbox (outbox.js). Everything the user does goes into the outbox first.
"use strict";
(function () {
  const WORDS = JSON.parse(document.getElementById("words").textContent); // the app_ labels of web/translations
  const { label, localTime: inZone } = window.gridgovWords; // words.js

  const SESSION = "gridgov.session";
  const LANG = "gridgov.lang";
  const POOR_ACCURACY_M = 50;
  const body = document.body.dataset;
  const MAX_PHOTOS = Number(body.maxPhotos);
  const SCHEMA_VERSION = Number(body.schemaVersion);
  const outbox = window.gridgovOutbox;
  const $ = (id) => document.getElementById(id);
  const state = { lang: localStorage.getItem(LANG) || "zh", grid: null, position: null, categories: [], photos: [],
    editing: null, ready: false, swReady: false, cases: [] };
  window.gridgov = state;

  const t = (key, vars) => label(WORDS, state.lang, key, vars);
  function translate() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach((el) => (el.textContent = t(el.dataset.i18n)));
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => (el.placeholder = t(el.dataset.i18nPlaceholder)));
    $("lang").textContent = state.lang === "zh" ? "EN" : "中文";
    fillCategories();
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => (k === "class" ? (node.className = v) : node.setAttribute(k, v)));
    children.flat().forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return node;
  }
  const localTime = (ms) => inZone(ms, body.tz); // the city's time zone, to the minute

  // --- session -------------------------------------------------------------------------------------
  function session() {
    try {
      return JSON.parse(localStorage.getItem(SESSION)) || null;
    } catch (e) {
      return null;
    }
  }
  const user = () => (session() || {}).username || null;
  const ROLES = ["gridworker", "building_head"]; // a building head (楼栋长) reports at their buildings
  const role = () => (session() || {}).role || "gridworker";
  const gridworker = () => role() === "gridworker";
  const token = () => {
    const s = session();
    return s && s.expiresAt > Date.now() ? s.token : null;
  };
  outbox.sender.user = user;
  outbox.sender.token = token;
  outbox.sender.lang = () => state.lang;
  outbox.sender.authLost = () => askToSignIn(true);

  async function askToSignIn(expired) {
    $("signin").hidden = false;
    const note = $("signin-note");
    note.hidden = !expired;
    if (expired) note.textContent = t("expired", { n: (await outbox.counts(user())).waiting });
    if (user()) $("signin-form").username.value = user();
  }

  async function signIn(event) {
    event.preventDefault();
    const form = event.target;
    $("signin-error").textContent = "";
    let response;
    try {
      response = await fetch("/v1/token", {
        method: "POST",
        headers: { "Accept-Language": state.lang },
        body: new URLSearchParams({ username: form.username.value, password: form.password.value }),
      });
    } catch (e) {
      $("signin-error").textContent = t("network_down");
      return;
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      $("signin-error").textContent = t("signin_failed", { e: answer.message || response.status });
      return;
    }
    if (!ROLES.includes(answer.role)) {
      $("signin-error").textContent = t("wrong_role");
      return;
    }
    const previous = user();
    localStorage.setItem(SESSION, JSON.stringify({
      token: answer.access_token, username: form.username.value.trim(), scope: answer.scope, role: answer.role,
      expiresAt: Date.now() + answer.expires_in * 1000,
    }));
    if (previous && previous !== user()) await caches.delete("gridgov-data"); // another person's grid and cases
    form.password.value = "";
    $("signin").hidden = true;
    await start();
    outbox.pump();
  }

  // --- reading the API (the service worker answers from its copy when offline) ----------------------
  async function api(path) {
    try {
      const headers = { "Accept-Language": state.lang, ...(token() ? { Authorization: `Bearer ${token()}` } : {}) };
      const response = await fetch(path, { headers });
      if (response.status === 401) {
        askToSignIn(true);
        return null;
      }
      return response.ok ? await response.json() : null;
    } catch (e) {
      return null;
    }
  }
  const today = () => new Date().toLocaleDateString("sv-SE"); // YYYY-MM-DD, local

  async function post(path, body) {
    try {
      const headers = { "Accept-Language": state.lang, "Content-Type": "application/json", Authorization: `Bearer ${token()}` };
      const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
      return response.ok ? await response.json() : null;
    } catch (e) {
      return null;
    }
  }
  const register = window.gridgovRegister({ $, el, t, api, post, show, role, localTime, // register.js
    queue: async (item) => { await outbox.add({ ...item, user: user(), day: today() }); outbox.pump(); } });

  // --- the day --------------------------------------------------------------------------------------
  let dayMap, pinMap, pin, gpsMarker, gpsCircle;
  let outlines = [];
  function maps() {
    dayMap = L.map("day-map", { zoomControl: true, attributionControl: false }).setView([32.2, 119.43], 15);
    pinMap = L.map("pin-map", { attributionControl: false }).setView([32.2, 119.43], 16);
    pin = L.marker([32.2, 119.43], { draggable: true, keyboard: true }).addTo(pinMap);
    pin.on("dragend", () => setCoords(pin.getLatLng().lng, pin.getLatLng().lat));
  }
  function showGrid() {
    if (!state.grid) {
      $("grid-name").textContent = t("grid_missing");
      return;
    }
    const p = state.grid.properties;
    $("grid-name").textContent = `${p.name}${p.community_name ? " · " + p.community_name : ""}`;
    outlines.forEach((o) => o.remove());
    outlines = [dayMap, pinMap].map((map) =>
      L.geoJSON(state.grid, { style: { color: "#0b5cad", weight: 2, fillOpacity: 0.05 } }).addTo(map));
    fit();
  }
  function fit() {
    // A map in a hidden tab has no size: Leaflet cannot fit it then, so it is fitted when its tab shows.
    [dayMap, pinMap].forEach((map, i) => {
      map.invalidateSize();
      if (outlines[i] && map.getSize().x > 0 && !map.fitted) {
        map.fitBounds(outlines[i].getBounds(), { padding: [8, 8] });
        map.fitted = true;
      }
    });
  }
  function insideGrid(lon, lat) {
    if (!state.grid) return true;
    const g = state.grid.geometry;
    const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
    return polygons.some((rings) => window.pointInPolygon([lon, lat], rings) !== false);
  }
  function onPosition(pos) {
    const { longitude: lon, latitude: lat, accuracy } = pos.coords;
    const first = !state.position;
    state.position = { lon, lat, accuracy };
    const at = [lat, lon];
    if (first && !state.grid) dayMap.setView(at, 16); // no grid yet: at least where the user is
    if (!gpsMarker) {
      gpsCircle = L.circle(at, { radius: accuracy, color: "#2a9d8f", weight: 1 }).addTo(dayMap);
      gpsMarker = L.circleMarker(at, { radius: 6, color: "#fff", fillColor: "#2a9d8f", fillOpacity: 1 }).addTo(dayMap);
    }
    gpsMarker.setLatLng(at);
    gpsCircle.setLatLng(at).setRadius(accuracy);
    $("gps").textContent = t("gps", { m: Math.round(accuracy) });
    const warnings = [];
    if (accuracy > POOR_ACCURACY_M) warnings.push(t("gps_poor", { m: Math.round(accuracy) }));
    if (!insideGrid(lon, lat)) warnings.push(t("gps_outside"));
    $("gps-warning").textContent = warnings.join("；");
    if (first && state.editing === null) setCoords(lon, lat);
  }
  function watchPosition() {
    $("gps").textContent = t("gps_wait");
    if (!navigator.geolocation) return;
    navigator.geolocation.watchPosition(onPosition, (e) => ($("gps").textContent = t("gps_none", { e: e.message })), {
      enableHighAccuracy: true, maximumAge: 10000,
    });
  }
  async function patrolStatus(readLog = true) {
    const day = today();
    if (readLog) {
      const log = await api(`/v1/worklogs/${encodeURIComponent(user())}/${day}`);
      if (log) state.patrolsLogged = { day, n: log.counts.patrols };
    }
    const mine = (await outbox.list(user())).filter((i) => i.body && i.body.kind === "patrol" && i.day === day);
    const queued = mine.filter((i) => i.state !== "sent").length;
    const logged = state.patrolsLogged && state.patrolsLogged.day === day ? state.patrolsLogged.n : 0;
    // a check-in the server has taken counts at once, before the work log has recorded it
    const done = Math.max(logged, mine.filter((i) => i.state === "sent").length);
    let text = done ? t("patrolled", { n: done }) : t("not_patrolled");
    if (queued) text += t("patrol_queued", { n: queued });
    $("patrol-status").textContent = text;
  }
  function eventBody(kind, category, lon, lat, extra) {
    const accuracy = state.position ? Math.round(state.position.accuracy * 10) / 10 : null;
    return {
      schema_version: SCHEMA_VERSION, id: crypto.randomUUID(), kind, category,
      occurred_at: new Date().toISOString(),
      location: { lon, lat, crs: "wgs84", ...(accuracy !== null ? { accuracy_m: Math.min(accuracy, 10000) } : {}) },
      reporter: user(), description: "", attachments: [], ...(extra || {}),
    };
  }
  function queueEvent(body) {
    return outbox.add({ type: "event", user: user(), path: "/v1/events", body, day: today() });
  }
  async function checkIn() {
    if (!state.position) {
      $("checkin-note").textContent = t("no_position");
      return;
    }
    await queueEvent(eventBody("patrol", "9001", state.position.lon, state.position.lat));
    $("checkin-note").textContent = t("checked_in");
    patrolStatus();
    outbox.pump();
  }
  async function showVisits() {
    const due = await api("/v1/visits/due");
    const list = $("visits");
    list.replaceChildren();
    for (const h of due ? [...due.overdue, ...due.this_week] : []) {
      const button = el("button", { type: "button", class: "visit" }, t("visit"));
      button.addEventListener("click", async () => {
        if (!state.position) return void ($("checkin-note").textContent = t("no_position"));
        await queueEvent(eventBody("visit", "9002", state.position.lon, state.position.lat, { household: h.household }));
        button.disabled = true;
        button.textContent = t("visited");
        outbox.pump();
      });
      const when = h.status === "overdue" || due.overdue.includes(h) ? t("overdue") : t("due_by", { d: h.due_by });
      const open = el("button", { type: "button", class: "link" }, `${h.address} · ${when}`);
      open.addEventListener("click", () => register.open(h.household));
      list.append(el("li", { "data-household": h.household }, open, button));
    }
  }

  // --- the report form -------------------------------------------------------------------------------
  function fillCategories() {
    const select = $("category");
    const chosen = select.value;
    const query = $("category-search").value.trim().toLowerCase();
    select.replaceChildren();
    const groups = new Map();
    for (const c of state.categories) {
      if (c.group === "sj90" || c.group === "sj91") continue; // 日常工作 and 居民点单 are not reported here
      const name = state.lang === "zh" ? c.name : c.name_en;
      if (query && !`${c.code} ${c.name} ${c.name_en} ${c.group_name}`.toLowerCase().includes(query)) continue;
      if (!groups.has(c.group_name)) groups.set(c.group_name, el("optgroup", { label: c.group_name }));
      groups.get(c.group_name).append(el("option", { value: c.code }, `${name} (${c.code})`));
    }
    select.append(...groups.values());
    select.value = chosen;
    fillConditions();
  }
  // A component class (部件): the components of that class near the reporter (within 30 m, or the GPS's
  // accuracy up to 200 m when it is worse), nearest first, the nearest chosen (GET /v1/components/near);
  // offline, none is listed and the report names none.
  async function fillComponents() {
    const code = $("category").value;
    const place = coordsFromInputs() || state.position;
    const select = $("component");
    $("component-label").hidden = !code.startsWith("BJ");
    select.replaceChildren();
    if (!code.startsWith("BJ") || !place) return;
    const within = Math.min(200, Math.max(30, Math.ceil(state.position ? state.position.accuracy : 0)));
    const found = await api(`/v1/components/near?lon=${place.lon}&lat=${place.lat}&category=${code}&within_m=${within}`);
    if ($("category").value !== code) return; // another class was chosen meanwhile
    const near = found ? found.components : [];
    select.replaceChildren(el("option", { value: "" }, t(found ? "component_none" : "component_offline")),
      ...near.map((c) => el("option", { value: c.code },
        `${c.name} ${c.code} · ${Math.round(c.distance_m)} m${c.open_case ? ` · ${t("component_open")}` : ""}`)));
    select.value = near.length ? near[0].code : "";
  }
  // A 小类 with several filing conditions (立案条件): the report names one.
  function fillConditions(chosen) {
    const c = state.categories.find((x) => x.code === $("category").value);
    const conditions = c && c.conditions ? c.conditions : [];
    const select = $("condition");
    select.replaceChildren(...conditions.map((k) => el("option", { value: k.number }, `${k.number}. ${k.text}`)));
    if (conditions.length > 1) select.prepend(el("option", { value: "" }, t("pick_condition")));
    select.value = chosen || (conditions.length === 1 ? conditions[0].number : "");
    $("condition-label").hidden = conditions.length === 0;
  }
  function setCoords(lon, lat) {
    $("lon").value = lon.toFixed(6);
    $("lat").value = lat.toFixed(6);
    pin.setLatLng([lat, lon]);
    if (pinMap.fitted) pinMap.panTo([lat, lon]);
  }
  function coordsFromInputs() {
    const lon = Number($("lon").value);
    const lat = Number($("lat").value);
    const valid = $("lon").value !== "" && $("lat").value !== "" && Math.abs(lon) <= 180 && Math.abs(lat) <= 90;
    if (valid) pin.setLatLng([lat, lon]);
    return valid ? { lon, lat } : null;
  }
  // At most 1600 px a side, JPEG at quality 0.8 (well under 1 MB at that size), EXIF kept (Compressor.js).
  function compressOne(file) {
    return new Promise((resolve, reject) => {
      new window.Compressor(file, {
        maxWidth: 1600, maxHeight: 1600, quality: 0.8, mimeType: "image/jpeg", retainExif: true,
        success: resolve, error: reject,
      });
    });
  }
  async function compress(files) {
    const out = [];
    for (const file of files) out.push(await compressOne(file));
    return out;
  }
  async function takePhotos(input) {
    const files = [...input.files];
    if (state.photos.length + files.length > MAX_PHOTOS) {
      $("photo-count").textContent = t("too_many_photos", { n: MAX_PHOTOS });
      input.value = "";
      return;
    }
    $("photo-count").textContent = t("compressing");
    state.photos.push(...(await compress(files)));
    input.value = "";
    $("photo-count").textContent = t("photo_count", { n: state.photos.length });
    showThumbs();
  }
  // What will be sent, seen before sending: a thumbnail of each photo as compressed.
  function showThumbs() {
    const thumbs = $("photo-thumbs");
    for (const img of thumbs.querySelectorAll("img")) URL.revokeObjectURL(img.src);
    thumbs.replaceChildren(...state.photos.map((blob, n) => Object.assign(document.createElement("img"), {
      src: URL.createObjectURL(blob), alt: t("photo_n", { n: n + 1 }),
    })));
  }
  async function saveReport(event) {
    event.preventDefault();
    const message = $("report-message");
    const category = $("category").value;
    const place = coordsFromInputs();
    if (!category) return void (message.textContent = t("pick_category"));
    const condition = $("condition").value;
    if ($("condition").options.length > 1 && !condition) return void (message.textContent = t("pick_condition"));
    const component = $("component").value;
    const named = { ...(condition ? { condition } : {}), ...(component ? { component } : {}) };
    if (!place) return void (message.textContent = t("no_location"));
    const description = $("description").value;
    if (state.editing !== null) {
      const item = await outbox.db.items.get(state.editing);
      const body = { ...item.body, category, description, location: { ...item.body.location, ...place } };
      delete body.condition;
      delete body.component;
      Object.assign(body, named);
      state.editing = null;
      await outbox.resend(item.seq, { body });
      message.textContent = t("updated");
    } else {
      const seq = await queueEvent({ ...eventBody("incident", category, place.lon, place.lat, named), description });
      const id = (await outbox.db.items.get(seq)).body.id;
      for (const blob of state.photos) {
        await outbox.add({ type: "photo", user: user(), path: `/v1/events/${id}/photos`, blob, contentType: blob.type || "image/jpeg", after: seq });
      }
      message.textContent = t("saved");
      outbox.pump();
    }
    state.photos = [];
    showThumbs();
    $("photo-count").textContent = "";
    $("description").value = "";
    $("category").value = "";
    fillConditions();
    fillComponents();
  }
  async function edit(item) {
    state.editing = item.seq;
    $("category-search").value = "";
    fillCategories();
    $("category").value = item.body.category;
    fillConditions(item.body.condition);
    $("description").value = item.body.description;
    setCoords(item.body.location.lon, item.body.location.lat);
    $("report-message").textContent = item.error || "";
    show("report");
  }

  // --- cases --------------------------------------------------------------------------------------
  function categoryName(code) {
    const c = state.categories.find((x) => x.code === code);
    return c ? (state.lang === "zh" ? c.name : c.name_en) : code;
  }
  async function caseAction(c, action, extra) {
    await outbox.add({ type: "transition", user: user(), caseId: c.id, path: `/v1/cases/${c.id}/transitions`,
      body: { action, note: "", ...extra.body }, after: extra.after || undefined });
    outbox.pump();
  }
  // More time (申请延期, its length and why) or the grid cannot solve it (吹哨, why): both need a reason.
  function asking(c, done, note) {
    const reason = el("input", { placeholder: t("ask_reason"), maxlength: "2000", class: "ask-reason", "aria-label": t("ask_reason") });
    const length = el("select", { class: "length", "aria-label": t("length") },
      ...["4h", "1d", "2d", "3d"].map((v) => el("option", { value: v }, t(`length_${v}`))));
    const extend = el("button", { type: "button", class: "extend" }, t("extend"));
    const whistle = el("button", { type: "button", class: "whistle" }, t("whistle"));
    const ask = (action, body) => async () => {
      if (!reason.value.trim()) return void (note.textContent = t("need_ask_reason"));
      await caseAction(c, action, { body: { note: reason.value.trim(), ...body } });
      done(t("queued"));
    };
    extend.addEventListener("click", () => ask("extend", { length: length.value })());
    whistle.addEventListener("click", ask("escalate", {}));
    return el("div", { class: "actions asking" }, reason, length, extend, whistle);
  }
  let casesAsked = 0; // only the latest of overlapping reads draws the list
  async function showCases() {
    const asked = ++casesAsked;
    const answer = await api("/v1/me/cases");
    const queued = new Set((await outbox.list(user())).filter((i) => i.type === "transition" && i.state === "waiting")
      .map((i) => i.caseId)); // an action on its way: the case's buttons stay off until the server has it
    if (asked !== casesAsked) return;
    if (answer) state.cases = answer.cases;
    const list = $("case-list");
    list.replaceChildren();
    if (!state.cases.length) list.append(el("li", {}, t("no_cases")));
    for (const c of state.cases) {
      const note = el("p", { class: "note", role: "status" });
      const row = el("li", { "data-case": c.id },
        el("strong", {}, categoryName(c.category)), " · ", t(`state_${c.state}`),
        el("p", { class: "note", translate: "no" }, t("number", { n: c.number })),
        el("p", {}, c.description || ""),
        c.rework_reason ? el("p", { class: "reason" }, t("rework_reason", { r: c.rework_reason })) : "",
        el("p", { class: c.overdue_now ? "warning" : "note" },
          c.overdue_now ? t("overdue_now") : c.deadline ? t("deadline", { d: localTime(Date.parse(c.deadline)) }) : ""));
      const done = (text) => { note.textContent = text; row.querySelectorAll("button").forEach((b) => (b.disabled = true)); };
      if (c.state === "dispatched") {
        const reason = el("input", { placeholder: t("reason"), maxlength: "2000", class: "reason" });
        const accept = el("button", { type: "button", class: "accept" }, t("accept"));
        const decline = el("button", { type: "button", class: "decline" }, t("decline"));
        accept.addEventListener("click", async () => { await caseAction(c, "accept", { body: {} }); done(t("queued")); });
        decline.addEventListener("click", async () => {
          if (!reason.value.trim()) return void (note.textContent = t("need_reason"));
          await caseAction(c, "decline", { body: { note: reason.value.trim() } });
          done(t("queued"));
        });
        row.append(el("div", { class: "actions" }, accept, reason, decline));
      } else if (c.state === "in_progress") {
        const photo = el("input", { type: "file", accept: "image/*", capture: "environment", class: "after-photo", "aria-label": t("after_photo") });
        const resolve = el("button", { type: "button", class: "resolve" }, t("resolve"));
        resolve.addEventListener("click", async () => {
          if (!photo.files.length) return void (note.textContent = t("need_photo"));
          const [blob] = await compress([photo.files[0]]);
          const seq = await outbox.add({ type: "photo", user: user(), path: `/v1/events/${c.id}/photos?stage=after`, blob, contentType: blob.type || "image/jpeg" });
          await caseAction(c, "resolve", { body: {}, after: seq });
          done(t("queued"));
        });
        row.append(el("div", { class: "actions" }, el("label", {}, t("after_photo"), " ", photo), resolve));
      }
      if (c.state === "in_progress") row.append(asking(c, done, note));
      row.append(place(c), history(c.history || []), note);
      if (queued.has(c.id)) done(t("queued"));
      list.append(row);
    }
  }

  // A case's history, folded: when, who (by name; the clock in words), what, why.
  function history(steps) {
    const who = (h) => h.actor_name || t(`actor_${h.actor}`).replace(/^actor_/, "");
    return el("details", { class: "history" }, el("summary", {}, t("history")), el("ol", {}, ...steps.map((h) =>
      el("li", {}, `${localTime(Date.parse(h.at))} ${who(h)} · ${t(`act_${h.action}`)}${h.note ? `：${h.note}` : ""}`))));
  }
  // Where the case is: a small map with the grid, opened on demand (a list of cases draws no maps until asked),
  // and a geo: link that opens the phone's own map app for the way there.
  function place(c) {
    const box = el("div", { class: "case-map map small", hidden: "" });
    const open = el("button", { type: "button", class: "show-map" }, t("show_map"));
    open.addEventListener("click", () => {
      box.hidden = !box.hidden;
      if (box.hidden || box.drawn) return;
      box.drawn = true;
      const map = L.map(box, { attributionControl: false }).setView([c.lat, c.lon], 17);
      if (state.grid) L.geoJSON(state.grid, { style: { color: "#0b5cad", weight: 2, fillOpacity: 0.05 } }).addTo(map);
      L.marker([c.lat, c.lon], { keyboard: false }).addTo(map);
    });
    const route = el("a", { class: "route", href: `geo:${c.lat},${c.lon}?q=${c.lat},${c.lon}` }, t("route"));
    return el("div", { class: "where" }, open, " ", route, box);
  }

  // --- told while the app is open: a case newly given to me, or one of mine sent back ----------------
  // The live feed of the user's grid says at once (read with fetch: EventSource cannot send the token);
  // a look every 60 s covers a feed that is down. When the app is closed, the server's notices (SMS
  // or log) tell the gridworker instead.
  const NOTICE_MS = 60000;
  const TOLD = new Set(["dispatch", "reject_resolution"]);
  async function live() {
    if (state.live !== undefined || !token() || !navigator.onLine) return;
    state.live = false;
    try {
      const { createParser } = await import("/app/lib/eventsource-parser.js");
      const parser = createParser({ onEvent: (e) => {
        if (e.event === "ready") return void (state.live = true);
        const m = JSON.parse(e.data);
        if (m.type === "transition" && m.assignee === user() && TOLD.has(m.action)) checkCases();
      } });
      const closing = new AbortController(); // a phone going offline lets the stream go at once
      window.addEventListener("offline", () => closing.abort(), { once: true });
      const response = await fetch("/v1/live", { headers: { Authorization: `Bearer ${token()}` }, signal: closing.signal });
      if (response.status === 401) return void (state.live = undefined); // opened again after signing in
      if (!response.ok) throw new Error(String(response.status));
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (let part = await reader.read(); !part.done; part = await reader.read()) parser.feed(part.value);
    } catch (e) {
      // offline, signed out or the API restarting: tried again below, and the periodic look goes on
    }
    state.live = undefined;
    setTimeout(live, 5000); // offline, it waits for the "online" event instead
  }
  let seen = null; // case id → the reason of its last rework, as last looked at
  async function checkCases() {
    const answer = await api("/v1/me/cases");
    if (!answer) return;
    if (seen) {
      for (const c of answer.cases) {
        if (!seen.has(c.id)) notify(t("notice_dispatched", { n: c.number, c: categoryName(c.category) }));
        else if (c.rework_reason && seen.get(c.id) !== c.rework_reason) {
          notify(t("notice_rework", { n: c.number, r: c.rework_reason }));
        }
      }
    }
    seen = new Map(answer.cases.map((c) => [c.id, c.rework_reason || ""]));
  }
  function notify(text) {
    $("notice").textContent = text;
    $("notice").hidden = false;
    if ("Notification" in window && Notification.permission === "granted") new Notification(t("title"), { body: text });
    if (!$("cases").hidden) showCases();
  }
  state.checkCases = checkCases;

  // --- my own reports: what became of each ---------------------------------------------------------
  let reportsAsked = 0;
  async function showReports() {
    const asked = ++reportsAsked;
    const answer = await api("/v1/me/reports");
    if (asked !== reportsAsked) return;
    if (answer) state.reports = answer.reports;
    const list = $("report-list");
    list.replaceChildren();
    if (!(state.reports || []).length) list.append(el("li", {}, t("no_reports")));
    for (const r of state.reports || []) {
      const row = el("li", { "data-case": r.id, class: `fate ${r.state}` },
        el("strong", {}, categoryName(r.category)), " · ", el("b", { class: "fate-state" }, t(`fate_${r.state}`)),
        el("p", { class: "note", translate: "no" }, `${t("number", { n: r.number })} · ${localTime(Date.parse(r.received_at))}`),
        el("p", {}, r.description || ""));
      if (r.merged_into_number) row.append(el("p", { class: "reason" }, t("merged_into", { n: r.merged_into_number })));
      if (r.end_reason) row.append(el("p", { class: "reason" }, t("reason_given", { r: r.end_reason })));
      if (r.rework_reason) row.append(el("p", { class: "reason" }, t("rework_reason", { r: r.rework_reason })));
      if (r.after_photo) {
        row.append(el("img", { class: "after", alt: t("after_photo"), width: "160", loading: "lazy",
          src: `/v1/events/${r.id}/photos/${r.after_photo}?size=thumb` }));
      }
      row.append(history(r.history));
      list.append(row);
    }
  }

  // --- the outbox -----------------------------------------------------------------------------------
  async function showOutbox() {
    if (!user()) return;
    const counts = await outbox.counts(user());
    $("waiting-count").textContent = counts.waiting + counts.refused;
    $("outbox-summary").textContent = t("outbox_summary", { w: counts.waiting, r: counts.refused, s: counts.sent });
    if ($("outbox").hidden) return;
    const items = await outbox.list(user());
    const list = $("outbox-list");
    list.replaceChildren();
    for (const item of items.reverse()) {
      const kind = item.type === "event" ? `kind_${item.body.kind}` : `kind_${item.type}`;
      const what = item.type === "transition" ? `${t(kind)}: ${item.body.action}` : t(kind);
      const li = el("li", { class: `item ${item.state}`, "data-seq": item.seq, "data-id": item.body ? item.body.id : "" },
        el("strong", {}, what), " · ", t(`st_${item.state}`), " · ", localTime(item.createdAt));
      if (item.body && item.body.description) li.append(el("p", {}, item.body.description));
      if (item.state === "waiting" && item.attempts) {
        li.append(el("p", { class: "note" }, `${t("tries", { n: item.attempts })} · ${t("next_try", { t: localTime(item.nextAt) })}`));
      }
      if (item.error) li.append(el("p", { class: item.state === "refused" ? "error" : "note", role: "alert" }, item.error));
      if (item.state === "refused") {
        const again = el("button", { type: "button", class: "correct" }, item.type === "event" ? t("edit") : t("retry"));
        again.addEventListener("click", () => (item.type === "event" ? edit(item) : outbox.resend(item.seq)));
        const drop = el("button", { type: "button", class: "discard" }, t("discard"));
        drop.addEventListener("click", () => confirm(t("confirm_discard")) && outbox.discard(item.seq));
        li.append(el("div", { class: "actions" }, again, drop));
      }
      list.append(li);
    }
  }

  // --- the page -------------------------------------------------------------------------------------
  function show(tab) {
    document.querySelectorAll("main > section.tab").forEach((s) => (s.hidden = s.id !== tab));
    document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
    if (tab === "report" || tab === "day") setTimeout(fit, 0);
    if (tab === "cases") showCases();
    if (tab === "mine") showReports();
    if (tab === "outbox") showOutbox();
  }
  function network() {
    $("net").textContent = navigator.onLine ? t("online") : t("offline");
    $("net").className = navigator.onLine ? "net on" : "net off";
  }

  let started = false;
  async function start() {
    $("main").hidden = false;
    if (!started) {
      started = true;
      maps();
      watchPosition();
    }
    document.querySelectorAll(".for-gridworker").forEach((node) => (node.hidden = !gridworker()));
    document.querySelectorAll(".for-head").forEach((node) => (node.hidden = gridworker()));
    if (!gridworker()) {
      state.categories = (await api("/v1/categories")) || state.categories;
      fillCategories();
      $("grid-name").textContent = t("my_buildings");
      await Promise.all([register.buildings((session().scope || "").split(",")), showOutbox()]);
      state.ready = true;
      return;
    }
    const [grid, categories] = await Promise.all([api("/v1/me/grid"), api("/v1/categories")]);
    if (grid) state.grid = grid;
    if (categories) state.categories = categories;
    fillCategories();
    showGrid();
    await Promise.all([patrolStatus(), showVisits(), showOutbox(), checkCases()]);
    state.ready = true;
    live();
  }

  document.querySelectorAll("[data-tab]").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG, state.lang);
    translate();
    network();
    showGrid();
    if (user() && gridworker()) Promise.all([patrolStatus(), showVisits(), showCases(), showReports(), showOutbox()]);
    else if (user()) Promise.all([showReports(), showOutbox()]);
  });
  $("signin-form").addEventListener("submit", signIn);
  $("checkin").addEventListener("click", checkIn);
  $("report-form").addEventListener("submit", saveReport);
  $("photos").addEventListener("change", (e) => takePhotos(e.target));
  $("category-search").addEventListener("input", fillCategories);
  $("category").addEventListener("change", () => {
    fillConditions();
    fillComponents();
  });
  $("lon").addEventListener("change", () => coordsFromInputs() && fillComponents());
  $("lat").addEventListener("change", () => coordsFromInputs() && fillComponents());
  $("cases-refresh").addEventListener("click", showCases);
  $("mine-refresh").addEventListener("click", showReports);
  $("notice").addEventListener("click", () => { $("notice").hidden = true; show("cases"); });
  setInterval(() => user() && gridworker() && navigator.onLine && checkCases(), NOTICE_MS);
  window.addEventListener("online", network);
  window.addEventListener("online", () => user() && gridworker() && live()); // the feed again, when the network is back
  window.addEventListener("offline", network);
  outbox.onChange(() => { showOutbox(); if (user()) patrolStatus(false); });

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" });
    // On the first visit the page loads before its service worker: once it takes over, read the data
    // again through it, so its copy holds the grid, the categories and the cases for offline use.
    if (navigator.serviceWorker.controller) state.swReady = true;
    else {
      navigator.serviceWorker.addEventListener("controllerchange", async () => {
        if (user() && token()) await Promise.all([start(), showCases(), showReports()]);
        state.swReady = true;
      }, { once: true });
    }
  }
  translate();
  network();
  outbox.prune();
  if (!user()) askToSignIn(false);
  else {
    if (!token()) askToSignIn(true);
    start().then(() => outbox.pump());
  }
})();
