// The workbench's queues: counts on every tab, filters, paging, a countdown on each case's own clock, and
// several cases dispatched at once. Updates live (server push from /v1/live, or every 20 s without it).
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("work-config").textContent);
  const text = cfg.labels;
  const PAGE = 50;
  const state = { tab: "intake", offset: 0, total: 0, counts: {}, rows: [], loaded: 0 };
  const selected = new Set(); // kept across live refreshes of the list
  window.gridgovWork = state;
  const $ = (id) => document.getElementById(id);
  // With the HttpOnly cookie (the page holds no token); refusals come worded in the page's language.
  const headers = { "X-Gridgov-CSRF": cfg.csrf, "Accept-Language": cfg.lang };
  // The server's message, after a line in the user's language saying what kind of refusal it is.
  const refusal = async (r) => `${text[`w_err_${r.status}`] || text.w_err} ${(await r.json().catch(() => ({}))).message || r.status}`;
  const say = (s, vars) => Object.entries(vars || {}).reduce((t, [k, v]) => t.replace(`{${k}}`, v), text[s] || s);

  function span(seconds) {
    const s = Math.abs(seconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h >= 24 ? `${Math.floor(h / 24)}d ${h % 24}h` : `${h}h ${String(m).padStart(2, "0")}m`;
  }
  function cell(content, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.append(content);
    return td;
  }
  function query() {
    const params = new URLSearchParams({ tab: state.tab, limit: PAGE, offset: state.offset });
    for (const [k, v] of new FormData($("filters"))) if (v !== "") params.set(k, v);
    return params;
  }
  async function load() {
    const response = await fetch(`/v1/work/queue?${query()}`, { headers });
    if (response.status === 401) return void (location.href = `/login?next=${encodeURIComponent(location.pathname)}`);
    const body = await response.json();
    if (!response.ok) return void ($("message").textContent = body.message);
    $("message").textContent = "";
    Object.assign(state, { total: body.total, counts: body.counts, rows: body.cases, loaded: state.loaded + 1 });
    for (const [tab, n] of Object.entries(body.counts)) document.querySelector(`[data-count="${tab}"]`).textContent = n;
    const rows = $("rows");
    rows.replaceChildren();
    for (const c of body.cases) {
      const tr = document.createElement("tr");
      tr.dataset.case = c.id;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.className = "pick";
      box.value = c.id;
      box.setAttribute("aria-label", c.number);
      box.checked = selected.has(c.id);
      box.addEventListener("change", () => (box.checked ? selected.add(c.id) : selected.delete(c.id)));
      const link = document.createElement("a");
      link.href = `/work/cases/${c.number}`;
      link.textContent = c.number;
      link.translate = false; // an id, like the grid's code: not words to translate
      const left = c.remaining_s === null ? "" : c.remaining_s < 0 ? say("w_overdue_by", { t: span(c.remaining_s) }) : say("w_left", { t: span(c.remaining_s) });
      tr.append(cell(box), cell(link), cell(cfg.categories[c.category] || c.category), cell(text[`st_${c.state}`] || c.state),
        cell(text[`lv_${c.holder || c.level}`] || c.level), Object.assign(cell(c.grid_code || ""), { translate: false }),
        cell(c.deadline ? window.gridgovWords.localTime(c.deadline, cfg.tz) : ""), cell(left, c.remaining_s < 0 ? "late" : ""),
        cell(document.createElement("span"), "row-message"));
      rows.append(tr);
    }
    if (!body.cases.length) rows.append(Object.assign(document.createElement("tr"), { textContent: say("w_none") }));
    $("range").textContent = `${body.total ? state.offset + 1 : 0}–${state.offset + body.cases.length} / ${say("w_total", { n: body.total })}`;
    $("prev").disabled = state.offset === 0;
    $("next").disabled = state.offset + PAGE >= body.total;
  }
  function show(tab) {
    state.tab = tab;
    state.offset = 0;
    document.querySelectorAll("[data-tab]").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === tab)));
    load();
  }
  async function dispatchSelected(event) {
    event.preventDefault();
    const assignee = new FormData($("batch")).get("assignee").trim();
    let done = 0;
    const messages = {};
    for (const id of [...selected]) {
      const response = await fetch(`/v1/cases/${id}/transitions`, {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json" },
        body: JSON.stringify({ action: "dispatch", ...(assignee ? { assignee } : {}) }),
      });
      if (response.ok) {
        done += 1;
        selected.delete(id);
      } else messages[id] = await refusal(response);
    }
    await load();
    // Said beside the button, and kept until dismissed: the list reloads under it as the feed changes it.
    $("batch-message").textContent = say("w_dispatched", { n: done });
    $("batch-result").hidden = false;
    for (const [id, text] of Object.entries(messages)) {
      const row = document.querySelector(`tr[data-case="${id}"] .row-message`);
      if (row) row.textContent = text;
    }
  }

  let pending = null;
  function soon() {
    clearTimeout(pending);
    pending = setTimeout(load, 500);
  }
  function live() {
    const source = new EventSource("/v1/work/live"); // a supervisor's area, or a department's own cases
    source.onmessage = soon;
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) setTimeout(live, 5000);
    };
  }

  document.querySelectorAll("[data-tab]").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); state.offset = 0; load(); });
  $("batch-dismiss").addEventListener("click", () => { $("batch-result").hidden = true; });
  // The browser's own words for a bad field are in its language, not the page's: say it from the catalogue.
  for (const [name, key] of [["grid", "w_bad_grid"], ["due_within_h", "w_bad_hours"]]) {
    const field = $("filters").elements[name];
    field.addEventListener("invalid", () => field.setCustomValidity(text[key]));
    field.addEventListener("input", () => field.setCustomValidity(""));
  }
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); load(); });
  $("next").addEventListener("click", () => { state.offset += PAGE; load(); });
  $("select-all").addEventListener("change", (e) =>
    document.querySelectorAll(".pick").forEach((b) => {
      b.checked = e.target.checked;
      b.dispatchEvent(new Event("change"));
    }));
  $("batch").addEventListener("submit", dispatchSelected);
  live();
  setInterval(load, 60000); // the countdowns
  show(cfg.role === "department" ? "in_hand" : "intake");
})();
