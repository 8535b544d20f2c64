// The words and times people read, with no browser in it: a label from the catalogue of the user's language
// (web/translations, handed to the page), and a moment in the city's time zone to the minute. The page loads
// it as window.gridgovWords; node's test runner requires it (tests/js/words.test.js).
"use strict";
(function (root) {
  /** ``template`` with each ``{name}`` replaced by ``vars.name``. */
  function fill(template, vars) {
    let text = template;
    for (const [name, value] of Object.entries(vars || {})) text = text.split(`{${name}}`).join(String(value));
    return text;
  }

  /** The label ``key`` in ``lang`` (else in Chinese, else the key itself), filled with ``vars``. */
  function label(catalogue, lang, key, vars) {
    const words = catalogue[lang] || {};
    const text = key in words ? words[key] : key in (catalogue.zh || {}) ? catalogue.zh[key] : key;
    return fill(text, vars);
  }

  /** ``moment`` (milliseconds or an ISO string) as ``2026-12-06 13:05`` in ``timeZone``. */
  function localTime(moment, timeZone) {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).formatToParts(new Date(moment));
    const part = Object.fromEntries(parts.map((p) => [p.type, p.value]));
    return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}`;
  }

  const words = { fill, label, localTime };
  if (typeof module === "object" && module.exports) module.exports = words;
  else root.gridgovWords = words;
})(typeof self === "undefined" ? globalThis : self);
