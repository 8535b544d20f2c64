// The workbench's queues: counts on every tab, filters, paging, a countdown on each case's own clock, and
// several cases dispatched at once. Updates live (server push from /v1/live, or every 20 s without it).
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("work-config").textContent);
  const text = cfg.labels;
  const PAGE = 50;
  const state = { tab: "intake", q: "", offset: 0, total: 0, counts: {}, rows: [], loaded: 0 };
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
  // The words found, marked in the text that holds them (as text nodes: never as HTML).
  function marks(value) {
    const whole = String(value ?? "");
    const lower = whole.toLowerCase();
    const q = state.q.toLowerCase();
    const nodes = [];
    let at = 0;
    for (let i = q ? lower.indexOf(q) : -1; i >= 0; i = lower.indexOf(q, at)) {
      nodes.push(whole.slice(at, i), Object.assign(document.createElement("mark"), { textContent: whole.slice(i, i + q.length) }));
      at = i + q.length;
    }
    nodes.push(whole.slice(at));
    return nodes;
  }
  function marked(value, cls) {
    const td = cell("", cls);
    td.replaceChildren(...marks(value));
    return td;
  }
  function query() {
    const params = new URLSearchParams({ limit: PAGE, offset: state.offset });
    if (state.q) {
      params.set("q", state.q);
      return `/v1/work/search?${params}`;
    }
    params.set("tab", state.tab);
    for (const [k, v] of new FormData($("filters"))) if (v !== "") params.set(k, v);
    return `/v1/work/queue?${params}`;
  }
  function place(c) {
    const near = c.place ? say("w_near", { place: c.place, m: c.place_m }) : "";
    return [near, c.grid_name || c.grid_code || ""].filter(Boolean).join(" · ");
  }
  function thumb(c) {
    if (!c.photo) return "";
    const img = Object.assign(document.createElement("img"), {
      src: `/v1/events/${c.id}/photos/${c.photo}?size=thumb`, alt: say("w_photo"), loading: "lazy", width: 48, height: 48 });
    img.className = "thumb";
    return img;
  }
  async function load() {
    const response = await fetch(query(), { headers });
    if (response.status === 401) return void (location.href = `/login?next=${encodeURIComponent(location.pathname)}`);
    const body = await response.json();
    if (!response.ok) return void ($("message").textContent = body.message);
    $("message").textContent = "";
    Object.assign(state, { total: body.total, rows: body.cases, loaded: state.loaded + 1 });
    if (body.counts) state.counts = body.counts;
    for (const [tab, n] of Object.entries(state.counts)) document.querySelector(`[data-count="${tab}"]`).textContent = n;
    const n = body.total_exact === false ? say("w_at_least", { n: body.total }) : body.total; // common words: counted up to a cap
    $("search-result").textContent = state.q ? say("w_found", { q: state.q, n }) : "";
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
      link.replaceChildren(...marks(c.number));
      link.translate = false; // a number, like the grid's code: not words to translate
      const description = marked(c.description, "line");
      const reporter = [c.reporter_name || c.reporter, c.reporter_role ? say(`role_${c.reporter_role}`) : ""].filter(Boolean).join(" · ");
      description.title = [c.description, reporter ? say("w_reported_by", { name: reporter }) : ""].filter(Boolean).join("\n");
      description.prepend(thumb(c));
      const left = c.remaining_s === null ? "" : c.remaining_s < 0 ? say("w_overdue_by", { t: span(c.remaining_s) }) : say("w_left", { t: span(c.remaining_s) });
      tr.append(cell(box), cell(link), cell(cfg.categories[c.category] || c.category), description, marked(place(c)),
        cell(text[`st_${c.state}`] || c.state), cell(text[`lv_${c.holder || c.level}`] || c.level),
        cell(c.deadline ? window.gridgovWords.localTime(c.deadline, cfg.tz) : ""), cell(left, c.remaining_s < 0 ? "late" : ""),
        cell(document.createElement("span"), "row-message"));
      rows.append(tr);
    }
    if (!body.cases.length) rows.append(Object.assign(document.createElement("tr"), { textContent: say("w_none") }));
    $("range").textContent = `${body.total ? state.offset + 1 : 0}–${state.offset + body.cases.length} / ${say("w_total", { n })}`;
    $("prev").disabled = state.offset === 0;
    $("next").disabled = body.total_exact === false ? body.cases.length < PAGE : state.offset + PAGE >= body.total;
  }
  function show(tab) {
    state.tab = tab;
    state.offset = 0;
    finding("");
    document.querySelectorAll("[data-tab]").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === tab)));
    load();
  }
  // Searching lists what the words find across every queue; a tab, or "clear", goes back to the queues.
  function finding(q) {
    state.q = q;
    $("search-clear").hidden = !q;
    $("filters").hidden = Boolean(q);
    if (!q) $("search").elements.q.value = "";
    if (q) document.querySelectorAll("[data-tab]").forEach((b) => b.setAttribute("aria-selected", "false"));
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
  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    state.offset = 0;
    finding($("search").elements.q.value.trim());
    load();
  });
  $("search-clear").addEventListener("click", () => show(state.tab));
  $("batch-dismiss").addEventListener("click", () => { $("batch-result").hidden = true; });
  // The browser's own words for a bad field are in its language, not the page's: say it from the catalogue.
  for (const [form, name, key] of [["filters", "grid", "w_bad_grid"], ["filters", "due_within_h", "w_bad_hours"], ["search", "q", "w_bad_search"]]) {
    const field = $(form).elements[name];
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
  show(cfg.role === "department" ? "sign_in" : "intake");
})();
