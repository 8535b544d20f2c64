// ESLint for this project's own scripts (web/static) and their unit tests (tests/js), run by `make lint`.
// ESLint and its rule sets are installed with the pages' libraries, in web/assets (npm).
import { createRequire } from "node:module";

const require = createRequire(new URL("./web/assets/", import.meta.url));
const js = require("@eslint/js");
const globals = require("globals");

const pageGlobals = {
  ...globals.browser,
  L: "readonly", // Leaflet
  echarts: "readonly",
  protomapsL: "readonly",
  Dexie: "readonly",
  Compressor: "readonly",
  pointInPolygon: "readonly",
  workbox: "readonly",
  gridgovGrids: "readonly", // web/static/maps/gridtiles.js
  importScripts: "readonly",
  module: "readonly", // the pure parts also export themselves to node's test runner
};

export default [
  { ignores: ["web/assets/**"] },
  {
    files: ["web/static/**/*.js"],
    ...js.configs.recommended,
    languageOptions: { ecmaVersion: 2022, sourceType: "script", globals: pageGlobals },
    rules: { ...js.configs.recommended.rules, "no-unused-vars": ["error", { caughtErrors: "none" }] },
  },
  {
    files: ["tests/js/**/*.js"],
    ...js.configs.recommended,
    languageOptions: { ecmaVersion: 2022, sourceType: "commonjs", globals: globals.node },
  },
];
