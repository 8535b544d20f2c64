// The outbox: every action of the app is kept in IndexedDB (through Dexie) with its client UUID from the
// moment it is made, and sent oldest first when the network allows. Nothing is taken out until the server
// has answered that it has it.
//   - network errors, 429 and 5xx: the queue waits (exponential backoff with jitter, never sooner than
//     Retry-After) and tries the same item again;
//   - any other 4xx: that item stops with the server's message, the user can correct it; the rest go on;
//   - 401: the queue waits for the user to sign in again; the items are kept;
//   - a photo goes after its event is accepted, and waits (404) until the event is recorded;
//   - a case action answered 409 that the case's history shows as done by this user counts as sent.
"use strict";
(function () {
  const { delay, retryAfterSeconds, nextItem } = window.gridgovOutboxRules; // outbox-rules.js
  const PHOTO_TRIES = 40; // a photo whose event is still not recorded after this many tries stops
  const KEEP_SENT_MS = 3 * 24 * 3600 * 1000; // sent items are shown for three days, then removed

  const db = new Dexie("gridgov");
  db.version(1).stores({ items: "++seq, state, user" });

  const sender = { user: () => null, token: () => null, lang: () => "zh", authLost: () => {} };
  const listeners = [];
  let pumping = false;
  let again = false;
  let pausedUntil = 0;
  let timer = null;

  function changed() {
    listeners.forEach((f) => f());
  }

  async function add(item) {
    const seq = await db.items.add({
      ...item,
      state: "waiting",
      attempts: 0,
      nextAt: 0,
      error: null,
      createdAt: Date.now(),
    });
    changed();
    return seq;
  }

  async function resend(seq, changes) {
    await db.items.update(seq, { ...(changes || {}), state: "waiting", attempts: 0, nextAt: 0, error: null });
    pausedUntil = 0;
    changed();
    pump();
  }

  async function discard(seq) {
    await db.items.delete(seq);
    const dependants = await db.items.filter((i) => i.after === seq).toArray();
    for (const d of dependants) await discard(d.seq);
    changed();
  }

  async function eligible(user, now) {
    const waiting = await db.items.where("state").equals("waiting").toArray();
    const firsts = await db.items.bulkGet(waiting.filter((i) => i.after).map((i) => i.after));
    return nextItem([...waiting, ...firsts.filter(Boolean)], user, now);
  }

  async function messageOf(response) {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      return body.message || text;
    } catch (e) {
      return text || `HTTP ${response.status}`;
    }
  }

  /** Whether the case's history shows this user took the action since the item was made (a lost answer). */
  async function alreadyDone(item, token) {
    try {
      const response = await fetch(`/v1/cases/${item.caseId}`, {
        headers: { Authorization: `Bearer ${token}`, "Accept-Language": sender.lang() },
      });
      if (!response.ok) return false;
      const history = (await response.json()).history || [];
      return history.some(
        (h) => h.action === item.body.action && h.actor === item.user && Date.parse(h.at) >= item.createdAt - 60000,
      );
    } catch (e) {
      return false;
    }
  }

  async function send(item, token) {
    const headers = { Authorization: `Bearer ${token}`, "Accept-Language": sender.lang() }; // refusals in the app's language
    let body;
    if (item.blob) {
      body = item.blob;
      headers["Content-Type"] = item.contentType;
    } else {
      body = JSON.stringify(item.body);
      headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(item.path, { method: item.method || "POST", headers, body, cache: "no-store" });
    } catch (e) {
      return { kind: "retry", after: 0, message: null };
    }
    if (response.ok) return { kind: "sent" };
    const message = await messageOf(response);
    if (response.status === 401) return { kind: "auth", message };
    if (response.status === 429 || response.status >= 500) return { kind: "retry", after: retryAfterSeconds(response.headers.get("Retry-After"), Date.now()), message };
    if (response.status === 404 && item.type === "photo") return { kind: "later", message };
    if (response.status === 409 && item.type === "transition" && (await alreadyDone(item, token))) return { kind: "sent" };
    return { kind: "refused", status: response.status, message };
  }

  async function pump() {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        while (Date.now() >= pausedUntil && sender.user()) {
          const token = sender.token();
          const item = await eligible(sender.user(), Date.now());
          if (!item) break;
          if (!token) {
            sender.authLost(null);
            break;
          }
          const result = await send(item, token);
          const now = Date.now();
          if (result.kind === "sent") {
            await db.items.update(item.seq, { state: "sent", sentAt: now, error: null });
          } else if (result.kind === "refused" || (result.kind === "later" && item.attempts + 1 >= PHOTO_TRIES)) {
            await db.items.update(item.seq, { state: "refused", status: result.status || 404, error: result.message });
          } else if (result.kind === "auth") {
            sender.authLost(result.message);
            break;
          } else {
            const attempts = item.attempts + 1;
            const wait = delay(attempts, result.after, Math.random()) * 1000;
            await db.items.update(item.seq, { attempts, nextAt: now + wait, error: result.message });
            if (result.kind === "retry") pausedUntil = now + wait; // the server or the network: all items wait
          }
          changed();
        }
      } while (again);
    } finally {
      pumping = false;
      changed();
      schedule();
    }
  }

  async function schedule() {
    clearTimeout(timer);
    const items = await db.items.where("state").equals("waiting").toArray();
    if (!items.length) return;
    const now = Date.now();
    const soonest = Math.max(pausedUntil, Math.min(...items.map((i) => i.nextAt)));
    timer = setTimeout(pump, soonest > now ? soonest - now : 5000);
  }

  async function counts(user) {
    const mine = await db.items.filter((i) => i.user === user).toArray();
    return {
      waiting: mine.filter((i) => i.state === "waiting").length,
      refused: mine.filter((i) => i.state === "refused").length,
      sent: mine.filter((i) => i.state === "sent").length,
    };
  }

  async function list(user) {
    return db.items.filter((i) => i.user === user).sortBy("seq");
  }

  async function prune() {
    const before = Date.now() - KEEP_SENT_MS;
    await db.items.filter((i) => i.state === "sent" && i.sentAt < before).delete();
  }

  window.addEventListener("online", async () => {
    // back online: everything waiting goes now, not when its back-off would have tried again
    pausedUntil = 0;
    await db.items.where("state").equals("waiting").modify({ nextAt: 0 });
    pump();
  });
  setInterval(pump, 60000); // a safety net: the network may return without an "online" event

  window.gridgovOutbox = {
    db,
    sender,
    add,
    resend,
    discard,
    pump,
    counts,
    list,
    prune,
    delay,
    onChange: (f) => listeners.push(f),
  };
})();
