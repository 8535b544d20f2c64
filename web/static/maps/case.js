// One case on the workbench: its place on a small map (with the grid's outline and, when it may be merged,
// the proposed duplicates), and the forms of the actions open to the user. Refusals show in place.
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("case-config").textContent);
  const text = cfg.labels;
  // With the HttpOnly cookie (the page holds no token); refusals come worded in the page's language.
  const headers = { "X-Gridgov-CSRF": cfg.csrf, "Accept-Language": cfg.lang };
  // The server's message, after a line in the user's language saying what kind of refusal it is.
  const refusal = async (r) => `${text[`w_err_${r.status}`] || text.w_err} ${(await r.json().catch(() => ({}))).message || r.status}`;
  const state = { done: 0 };
  window.gridgovCase = state;

  const map = L.map("map", { attributionControl: false }).setView([cfg.case.lat, cfg.case.lon], 16);
  if (cfg.grid) map.fitBounds(L.geoJSON(cfg.grid, { style: { color: "#0b5cad", weight: 2, fillOpacity: 0.05 } }).addTo(map).getBounds());
  // The components around it (部件), by class, from zoom 16; an open case's component ringed red.
  if (cfg.components) window.gridgovComponents(cfg.components).addTo(map);
  L.circleMarker([cfg.case.lat, cfg.case.lon], { radius: 8, color: "#c1121f", fillOpacity: 0.9 }).addTo(map);

  const merge = document.querySelector("form[data-action=merge] select");
  if (merge) {
    fetch(`/v1/cases/${cfg.case.id}/duplicates`, { headers }).then((r) => r.json()).then((found) => {
      for (const c of found.candidates || []) {
        merge.append(new Option(`${c.number} · ${c.distance_m} m`, c.id));
        L.circleMarker([c.lat, c.lon], { radius: 7, color: "#f0a500", fillOpacity: 0.8 })
          .bindTooltip(`${c.number} · ${c.distance_m} m`).addTo(map);
      }
    });
  }

  async function act(event) {
    event.preventDefault();
    const form = event.target;
    const error = form.querySelector(".error");
    const data = new FormData(form);
    const note = (data.get("note") || "").trim();
    if (form.dataset.reason === "true" && !note) return void (error.textContent = text.w_need_reason);
    error.textContent = "";
    const photo = data.get("photo");
    if (photo && photo.size) {
      const upload = await fetch(`/v1/events/${cfg.case.id}/photos?stage=after`, {
        method: "POST", headers: { ...headers, "Content-Type": photo.type || "image/jpeg" }, body: photo,
      });
      if (!upload.ok) return void (error.textContent = await refusal(upload));
    }
    const body = { action: form.dataset.action, note };
    for (const field of ["assignee", "length", "into", "component_status"]) {
      const value = (data.get(field) || "").trim();
      if (value) body[field] = value;
    }
    const response = await fetch(`/v1/cases/${cfg.case.id}/transitions`, {
      method: "POST", headers: { ...headers, "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) return void (error.textContent = await refusal(response));
    state.done += 1;
    location.reload();
  }
  document.querySelectorAll("form.action").forEach((f) => f.addEventListener("submit", act));

  // 改派: a supervisor sends the case to another unit than the one decided, with a reason.
  const reroute = document.getElementById("reroute");
  if (reroute) {
    reroute.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(reroute);
      const reason = (data.get("reason") || "").trim();
      const error = reroute.querySelector(".error");
      if (!reason) return void (error.textContent = text.w_need_reason);
      const response = await fetch(`/v1/cases/${cfg.case.id}/unit`, {
        method: "POST", headers: { ...headers, "Content-Type": "application/json" },
        body: JSON.stringify({ unit: data.get("unit"), reason }),
      });
      if (!response.ok) return void (error.textContent = await refusal(response));
      state.done += 1;
      location.reload();
    });
  }
})();
