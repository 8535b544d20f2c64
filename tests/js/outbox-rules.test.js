// The phone app's outbox rules (web/static/app/outbox-rules.js), worked out by hand.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { delay, retryAfterSeconds, nextItem, CAP_S } = require("../../web/static/app/outbox-rules.js");

test("the wait doubles from 2 s, half of it random, up to 300 s", () => {
  // try 1: step 2 s → 1 s fixed + up to 1 s random; try 3: step 8 s → 4..8 s; try 30: capped at 300 s → 150..300 s
  assert.equal(delay(1, 0, 0), 1);
  assert.equal(delay(1, 0, 0.5), 1.5);
  assert.equal(delay(3, 0, 0), 4);
  assert.equal(delay(3, 0, 0.999), 4 + 0.999 * 4);
  assert.equal(delay(30, 0, 0), CAP_S / 2);
  assert.equal(delay(1000, 0, 1), CAP_S);
  assert.equal(delay(0, 0, 0), 1); // never less than the first step
});

test("never sooner than the server's Retry-After", () => {
  assert.equal(delay(1, 120, 0.5), 120);
  assert.equal(delay(9, 30, 0), 150); // the back-off is already longer
});

test("Retry-After in seconds or as an HTTP date", () => {
  const now = Date.parse("2026-12-06T05:00:00Z");
  assert.equal(retryAfterSeconds("17", now), 17);
  assert.equal(retryAfterSeconds(" 5 ", now), 5);
  assert.equal(retryAfterSeconds("Sun, 06 Dec 2026 05:01:30 GMT", now), 90);
  assert.equal(retryAfterSeconds("Sun, 06 Dec 2026 04:59:00 GMT", now), 0); // already past
  assert.equal(retryAfterSeconds("soon", now), 0);
  assert.equal(retryAfterSeconds(null, now), 0);
});

const item = (seq, fields) => ({ seq, user: "gw-1", state: "waiting", nextAt: 0, ...fields });

test("the oldest due item of the user goes first", () => {
  const items = [item(3), item(1, { nextAt: 500 }), item(2), item(0, { user: "gw-2" })];
  assert.equal(nextItem(items, "gw-1", 100).seq, 2); // 1 waits until 500, 0 is another user's
  assert.equal(nextItem(items, "gw-1", 500).seq, 1);
  assert.equal(nextItem(items, "gw-3", 500), null);
});

test("a photo waits for its event to be sent", () => {
  const event = item(1, { nextAt: 900 });
  const photo = item(2, { after: 1 });
  assert.equal(nextItem([event, photo], "gw-1", 100), null); // the event is waiting: nothing may go
  assert.equal(nextItem([{ ...event, state: "sent" }, photo], "gw-1", 100).seq, 2);
  assert.equal(nextItem([{ ...event, state: "refused" }, photo], "gw-1", 100), null); // stays until it is fixed
  assert.equal(nextItem([photo], "gw-1", 100).seq, 2); // the event is gone (sent long ago and pruned)
});

test("refused and sent items are not sent again", () => {
  assert.equal(nextItem([item(1, { state: "refused" }), item(2, { state: "sent" })], "gw-1", 100), null);
});
