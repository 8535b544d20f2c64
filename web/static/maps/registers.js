// The register's pages: search people by name or ID number (sent in the body, never in the URL), decide on
// proposed changes, and import a file: check it, read the report by line and column, import it, follow progress.
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("register-config").textContent);
  const text = cfg.labels;
  const headers = { "X-Gridgov-CSRF": cfg.csrf, "Accept-Language": cfg.lang };
  const json = { ...headers, "Content-Type": "application/json" };
  const refusal = async (r) => `${text[`w_err_${r.status}`] || text.w_err} ${(await r.json().catch(() => ({}))).message || r.status}`;
  const state = { polls: 0, last: null };
  window.gridgovRegisters = state;
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    children.flat().forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return node;
  }
  const link = (href, label) => el("a", { href }, label);

  const search = document.getElementById("people-search");
  if (search) {
    search.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = search.querySelector(".error");
      const name = search.name.value.trim();
      const idNumber = search.id_number.value.trim();
      error.textContent = "";
      if (!name === !idNumber) return void (error.textContent = text.reg_search_one);
      const body = name ? { name } : { id_number: idNumber };
      const response = await fetch("/v1/people/search", { method: "POST", headers: json, body: JSON.stringify(body) });
      if (!response.ok) return void (error.textContent = await refusal(response));
      const found = (await response.json()).people;
      const table = document.getElementById("found");
      const rows = found.map((p) => el("tr", {},
        el("td", {}, link(`/work/registers/people/${p.id}?lang=${cfg.lang}`, p.name)),
        el("td", { translate: "no" }, p.id_number), el("td", {}, p.age_band), el("td", {}, p.relation),
        el("td", {}, p.tags.join("、")),
        el("td", {}, link(`/work/registers/households/${p.household}?lang=${cfg.lang}`, p.household))));
      table.tBodies[0].replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 6 }, text.reg_none))]));
      table.hidden = false;
    });
  }

  document.querySelectorAll("form.decide").forEach((form) => form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const approve = event.submitter ? event.submitter.value === "true" : true;
    const note = form.note.value.trim();
    const error = form.querySelector(".error");
    if (!approve && !note) return void (error.textContent = text.reg_need_reason);
    const id = form.closest("tr").dataset.change;
    const response = await fetch(`/v1/register-changes/${id}/decision`, {
      method: "POST", headers: json, body: JSON.stringify({ approve, note }),
    });
    if (!response.ok) return void (error.textContent = await refusal(response));
    const done = await response.json();
    form.replaceWith(text[`reg_state_${done.state}`]);
  }));

  const upload = document.getElementById("import");
  if (upload) {
    const progress = document.getElementById("progress");
    const summary = document.getElementById("summary");
    const report = document.getElementById("report");
    const download = document.getElementById("download");
    const importButton = document.getElementById("do-import");
    upload.file.addEventListener("change", () => { importButton.disabled = true; });
    upload.addEventListener("submit", async (event) => {
      event.preventDefault();
      const dryRun = !event.submitter || event.submitter.value !== "false";
      const file = upload.file.files[0];
      const error = upload.querySelector(".error");
      error.textContent = "";
      if (!file) return void (error.textContent = text.reg_choose_file);
      const query = new URLSearchParams({ kind: upload.kind.value, filename: file.name, dry_run: dryRun, lang: cfg.lang });
      const started = await fetch(`/v1/register-imports?${query}`, {
        method: "POST", headers: { ...headers, "Content-Type": "application/octet-stream" }, body: file,
      });
      if (!started.ok) return void (error.textContent = await refusal(started));
      const { id } = await started.json();
      report.hidden = true;
      summary.textContent = "";
      download.hidden = true;
      for (;;) {
        const answer = await fetch(`/v1/register-imports/${id}?lang=${cfg.lang}`, { headers });
        if (!answer.ok) return void (error.textContent = await refusal(answer));
        const found = await answer.json();
        state.polls += 1;
        if (found.state === "running") {
          const share = found.total ? ` ${found.done} / ${found.total}` : "";
          progress.textContent = `${found.stage_words || text.reg_running}${share}`;
          await new Promise((resolve) => setTimeout(resolve, 400));
          continue;
        }
        state.last = found;
        progress.textContent = "";
        summary.textContent = found.summary || "";
        const rows = found.problems.map((p) => el("tr", {}, el("td", {}, p.line), el("td", {}, p.column), el("td", {}, p.problem)));
        report.tBodies[0].replaceChildren(...rows);
        report.hidden = rows.length === 0;
        download.href = `/v1/register-imports/${id}/report.csv?lang=${cfg.lang}`;
        download.hidden = false;
        importButton.disabled = !(dryRun && found.state === "done" && found.bad === 0);
        return;
      }
    });
  }
})();
