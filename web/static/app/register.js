// The phone's register: a household's page (members, tags, visits) opened from a due visit or a building, the
// changes a gridworker proposes for their grid (sent through the outbox, so a bad connection loses none, and
// one change however often it is resent), and a building head's buildings.
"use strict";
(function () {
  const KINDS = ["leave", "move_person", "tags", "add_person", "split", "merge"];
  // Which fields each change asks for, and where it is sent ({p}: the person, {h}: the household).
  const FORMS = {
    leave: { path: "/v1/people/{p}/leave", fields: ["person", "why", "on"] },
    move_person: { path: "/v1/people/{p}/move", fields: ["person", "into"] },
    tags: { path: "/v1/people/{p}/tags", method: "PUT", fields: ["person", "tags"] },
    add_person: { path: "/v1/households/{h}/people", fields: ["name", "id_number", "relation"] },
    split: { path: "/v1/households/{h}/split", fields: ["person", "into"] },
    merge: { path: "/v1/households/{h}/merge", fields: ["into"] },
  };

  function setup(app) {
    const { $, el, t, api, show, queue } = app;
    let household = null;

    function field(name) {
      return $("change-form").querySelector(`[data-field=${name}]`);
    }
    function showFields() {
      const chosen = FORMS[$("change-kind").value];
      for (const node of $("change-form").querySelectorAll("[data-field]")) node.hidden = !chosen.fields.includes(node.dataset.field);
    }

    async function open(id) {
      show("household");
      $("hh-address").textContent = t("loading");
      $("hh-people").replaceChildren();
      $("hh-visits").replaceChildren();
      $("change-note").textContent = "";
      const found = await api(`/v1/households/${encodeURIComponent(id)}`);
      if (!found) return void ($("hh-address").textContent = t("household_unreachable"));
      household = found;
      $("hh-address").textContent = found.address;
      $("hh-meta").textContent = t("household_meta", { n: found.members, c: t(`cadence_${found.cadence}`) });
      for (const p of found.people) {
        $("hh-people").append(el("li", { "data-person": p.id },
          el("strong", {}, p.name), ` · ${p.relation} · ${p.age_band}`,
          el("p", { translate: "no" }, [p.id_number, p.phone].filter(Boolean).join(" · ")),
          p.tags.length ? el("p", { class: "note" }, p.tags.join("、")) : ""));
      }
      if (!found.visits.length) $("hh-visits").append(el("li", {}, t("no_visits")));
      for (const v of found.visits) {
        $("hh-visits").append(el("li", {}, `${app.localTime(Date.parse(v.at))} · ${v.by_name}`, v.description ? el("p", {}, v.description) : ""));
      }
      const person = field("person").querySelector("select");
      person.replaceChildren(...found.people.map((p) => new Option(p.name, p.id)));
      $("change-form").hidden = app.role() !== "gridworker";
      showFields();
    }

    async function propose(event) {
      event.preventDefault();
      const form = event.target;
      const kind = $("change-kind").value;
      const spec = FORMS[kind];
      const data = new FormData(form);
      const reason = (data.get("reason") || "").trim();
      if (!reason) return void ($("change-note").textContent = t("need_change_reason"));
      const body = { client_id: crypto.randomUUID(), reason };
      const person = data.get("person");
      if (spec.fields.includes("into")) body.into = (data.get("into") || "").trim();
      if (spec.fields.includes("why")) Object.assign(body, { why: data.get("why"), on: data.get("on") });
      if (spec.fields.includes("tags")) body.tags = (data.get("tags") || "").split(/[,，、\s]+/).filter(Boolean);
      if (kind === "add_person") Object.assign(body, { name: data.get("name").trim(), id_number: data.get("id_number").trim(), relation: data.get("relation").trim() });
      if (kind === "split") body.people = [Number(person)];
      const path = spec.path.replace("{p}", person).replace("{h}", encodeURIComponent(household.id));
      await queue({ type: "change", path, method: spec.method || "POST", body });
      form.reset();
      showFields();
      $("change-note").textContent = t("change_queued");
    }

    async function buildings(codes) {
      const list = $("building-list");
      list.replaceChildren();
      for (const code of codes) {
        const found = await api(`/v1/buildings/${code}`);
        if (!found) continue;
        const item = el("li", {}, el("strong", {}, found.name));
        for (const h of found.households) {
          const open_ = el("button", { type: "button", class: "link", "data-household": h.id }, `${h.address} · ${h.members}`);
          open_.addEventListener("click", () => open(h.id));
          item.append(el("p", {}, open_));
        }
        list.append(item);
      }
    }

    async function search(event) {
      event.preventDefault();
      const q = event.target.q.value.trim();
      const list = $("found-people");
      list.replaceChildren();
      if (!q) return;
      const body = /^\d{6}/.test(q) ? { id_number: q } : { name: q }; // an ID number starts with six digits
      const found = await app.post("/v1/people/search", body);
      if (!found) return void list.append(el("li", {}, t("search_failed")));
      if (!found.people.length) list.append(el("li", {}, t("nobody_found")));
      for (const p of found.people) {
        const open_ = el("button", { type: "button", class: "link" }, `${p.name} · ${p.age_band} · ${p.relation}`);
        open_.addEventListener("click", () => open(p.household));
        list.append(el("li", {}, open_));
      }
    }

    $("people-search").addEventListener("submit", search);
    $("change-kind").replaceChildren(...KINDS.map((k) => new Option(t(`change_${k}`), k)));
    $("change-kind").addEventListener("change", showFields);
    $("change-form").addEventListener("submit", propose);
    $("hh-back").addEventListener("click", () => show("day"));
    return { open, buildings };
  }

  window.gridgovRegister = setup;
})();
