// Labels and times of the pages' scripts (web/static/app/words.js), worked out by hand.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { fill, label, localTime } = require("../../web/static/app/words.js");

const CATALOGUE = { zh: { due: "应于 {d} 前", only_zh: "仅中文" }, en: { due: "due by {d}" } };

test("a label in the user's language, filled", () => {
  assert.equal(label(CATALOGUE, "zh", "due", { d: "12-06" }), "应于 12-06 前");
  assert.equal(label(CATALOGUE, "en", "due", { d: "12-06" }), "due by 12-06");
});

test("a label missing in English falls back to Chinese, then to its key", () => {
  assert.equal(label(CATALOGUE, "en", "only_zh"), "仅中文");
  assert.equal(label(CATALOGUE, "fr", "due", { d: 1 }), "应于 1 前");
  assert.equal(label(CATALOGUE, "zh", "nowhere"), "nowhere");
});

test("every placeholder is filled, and one used twice", () => {
  assert.equal(fill("{n}/{n} · {m}", { n: 2, m: "x" }), "2/2 · x");
});

test("a moment in the city's zone, to the minute", () => {
  // 2026-12-06T16:05:59Z is 00:05 of the 7th in Shanghai (UTC+8), 11:05 of the 6th in New York (UTC−5)
  assert.equal(localTime("2026-12-06T16:05:59Z", "Asia/Shanghai"), "2026-12-07 00:05");
  assert.equal(localTime(Date.parse("2026-12-06T16:05:59Z"), "America/New_York"), "2026-12-06 11:05");
  assert.equal(localTime("2026-12-06T04:00:00.123456+00:00".slice(0, 23) + "Z", "Asia/Shanghai"), "2026-12-06 12:00");
});
