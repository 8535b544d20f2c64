// What the outbox decides, with no browser in it: how long to wait before trying again, and which item goes
// next. The page loads it before outbox.js (window.gridgovOutboxRules); node's test runner requires it
// (tests/js/outbox-rules.test.js).
"use strict";
(function (root) {
  const BASE_S = 2; // first wait
  const CAP_S = 300; // longest wait between two tries

  /** Seconds to wait before try number ``attempts + 1``: half the step fixed, half random (``random`` in [0, 1)). */
  function delay(attempts, retryAfterS, random) {
    const step = Math.min(CAP_S, BASE_S * 2 ** Math.min(Math.max(attempts - 1, 0), 20));
    return Math.max(step / 2 + (random * step) / 2, retryAfterS || 0);
  }

  /** A Retry-After header's value (seconds, or an HTTP date) in seconds from ``nowMs``; 0 when absent or bad. */
  function retryAfterSeconds(value, nowMs) {
    if (!value) return 0;
    if (/^\d+$/.test(value.trim())) return Number(value);
    const at = Date.parse(value);
    return Number.isNaN(at) ? 0 : Math.max(0, (at - nowMs) / 1000);
  }

  /**
   * The item to send next: the oldest (lowest ``seq``) waiting item of ``user`` whose time has come and
   * whose predecessor (``after``: the event a photo belongs to) has been sent, or is gone. ``items`` holds
   * the waiting items and their predecessors.
   */
  function nextItem(items, user, now) {
    const bySeq = new Map(items.map((item) => [item.seq, item]));
    const waiting = items.filter((i) => i.state === "waiting" && i.user === user && i.nextAt <= now);
    for (const item of waiting.sort((a, b) => a.seq - b.seq)) {
      const first = item.after ? bySeq.get(item.after) : null;
      if (!first || first.state === "sent") return item;
    }
    return null;
  }

  const rules = { BASE_S, CAP_S, delay, retryAfterSeconds, nextItem };
  if (typeof module === "object" && module.exports) module.exports = rules;
  else root.gridgovOutboxRules = rules;
})(typeof self === "undefined" ? globalThis : self);
