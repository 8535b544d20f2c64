// The grid layer of the map pages: geometry from vector tiles (GET /v1/map/tiles/{z}/{x}/{y}.mvt), drawn on
// canvas by protomaps-leaflet, coloured by one value per grid code that the page sets and refreshes
// (GET /v1/map/values). A city of 10,000 grids costs a few tiles, not a GeoJSON of every vertex.
// options: url, values {code: number}, missing (the value of a grid not named: 0 for counts, null),
// breaks [b1 < b2 …] and classes [colour of v <= b1, of b1 < v <= b2, …], none (colour of null),
// opacity, stroke, width, bounds (no tile is asked for outside them).
// A tile names each grid by its feature id (the 15-digit code, exact as a JS number) and, from data
// zoom 12 on, by name (api/mapdata.py NAMED_ZOOM). The grids are painted one colour class at a time;
// outlines from OUTLINE_ZOOM, where a grid is big enough to need one.
// gridgovPrefetch(url, bounds), from the page's head: the data tiles of the first view (the bounds fitted to a
// map the size of the window, as Leaflet's fitBounds does) are fetched and decoded while the server builds
// the rest of the page; the layer of that url then starts with them.
(function () {
  "use strict";
  var OUTLINE_ZOOM = 13;
  var MAX_DATA_ZOOM = 16; // deeper zooms scale these tiles: a grid (~300 m) has every vertex by then
  var TILE_DELAY_MS = 0.01; // between painting a tile and the next one out (the library's 3 ms; 0 means 3)
  var LEVEL_DIFF = 2; // a data tile of zoom z - 2 paints 4×4 screen tiles: a wall's view in a few requests
  var MAX_ZOOM = 18; // the map's (folium's default)
  var prefetched = {}; // url → the library's views (sources and their tile caches) holding the first tiles

  window.gridgovPrefetch = function (url, bounds) {
    var crs = L.CRS.EPSG3857;
    var box = L.latLngBounds(bounds);
    var span = crs.latLngToPoint(box.getSouthEast(), 0).subtract(crs.latLngToPoint(box.getNorthWest(), 0));
    var scale = Math.min(window.innerWidth / span.x, window.innerHeight / span.y);
    var zoom = Math.max(0, Math.min(MAX_ZOOM, Math.floor(Math.round(Math.log2(scale) * 100) / 100)));
    var z = Math.min(zoom - LEVEL_DIFF, MAX_DATA_ZOOM);
    if (z < 0) return;
    var nw = crs.latLngToPoint(box.getNorthWest(), z).divideBy(256).floor();
    var se = crs.latLngToPoint(box.getSouthEast(), z).divideBy(256).floor();
    var views = protomapsL.sourcesToViews({ url: url, maxDataZoom: MAX_DATA_ZOOM, levelDiff: LEVEL_DIFF });
    prefetched[url] = views;
    var cache = views.get("").tileCache;
    for (var x = nw.x; x <= se.x; x += 1) {
      for (var y = nw.y; y <= se.y; y += 1) cache.get({ z: z, x: x, y: y }).catch(function () {});
    }
  };

  window.gridgovGrids = function (options) {
    var values = options.values || {};
    var value = function (code) {
      return Object.prototype.hasOwnProperty.call(values, code) ? values[code] : options.missing;
    };
    var classFor = function (v) {
      if (v === null || v === undefined) return options.classes.length; // the colour of no value
      var k = 0;
      while (k < options.breaks.length && v > options.breaks[k]) k += 1;
      return k;
    };
    var classes; // grid code, as a number (a tile's feature id) → colour class, for the values now shown
    var missingClass; // of a grid the values do not name
    var version = 0; // of the values: a feature's kept class is good while it is the same
    var classify = function () {
      classes = new Map();
      Object.keys(values).forEach(function (code) { classes.set(Number(code), classFor(values[code])); });
      missingClass = classFor(options.missing);
      version += 1;
    };
    classify();
    // One rule paints every grid: draw() adds a grid's rings to the path of its colour class, and the rule after
    // it fills each path once and strokes the outlines (a canvas fill per colour and tile, not per grid).
    // draw() is called inside the tile's transform; the paths are filled in the same one.
    var colours = options.classes.concat([options.none]); // by colour class
    var painter = {
      paths: null,
      before: function (ctx, z) {
        painter.flush(ctx);
        painter.z = z;
      },
      draw: function (ctx, geom, z, f) {
        if (f.classed !== version) { // a grid's class, kept on the feature until the values change
          var k = classes.get(f.id);
          f.colourClass = k === undefined ? missingClass : k;
          f.classed = version;
        }
        if (!painter.paths) {
          painter.paths = {};
          painter.matrix = ctx.getTransform();
        }
        var path = painter.paths[f.colourClass] || (painter.paths[f.colourClass] = new Path2D());
        for (var r = 0; r < geom.length; r += 1) { // the grid's rings, straight into its class's path
          var ring = geom[r];
          path.moveTo(ring[0].x, ring[0].y);
          for (var i = 1; i < ring.length; i += 1) path.lineTo(ring[i].x, ring[i].y);
          path.closePath();
        }
      },
      flush: function (ctx) {
        if (!painter.paths) return;
        var paths = painter.paths;
        ctx.save();
        ctx.setTransform(painter.matrix);
        ctx.globalAlpha = options.opacity;
        Object.keys(paths).forEach(function (k) {
          ctx.fillStyle = colours[k];
          ctx.fill(paths[k]);
        });
        if (painter.z >= OUTLINE_ZOOM) {
          ctx.globalAlpha = 1;
          ctx.strokeStyle = options.stroke;
          ctx.lineWidth = options.width;
          Object.keys(paths).forEach(function (k) { ctx.stroke(paths[k]); });
        }
        ctx.restore();
        painter.paths = null;
      },
    };
    var layer = protomapsL.leafletLayer({
      url: options.url,
      attribution: "",
      maxDataZoom: MAX_DATA_ZOOM,
      levelDiff: LEVEL_DIFF,
      tileDelay: TILE_DELAY_MS,
      bounds: options.bounds,
      paintRules: [
        { dataLayer: "grids", symbolizer: painter },
        // draws nothing: it comes after the painter's rule on every tile, so its before() fills what that one drew
        { dataLayer: "grids", filter: function () { return false; }, symbolizer: { before: painter.flush, draw: function () {} } },
      ],
    });
    // "load": every visible tile fetched and painted; "shown", once: two frames later, when the first view is on
    // the screen (its canvas tiles are composited in the next frame), the moment to add what can wait.
    layer.drawn = false;
    layer.on("load", function () {
      if (!layer.drawn) {
        layer.drawnAt = performance.now();
        window.requestAnimationFrame(function () {
          window.requestAnimationFrame(function () {
            layer.shownAt = performance.now();
            layer.fire("shown");
          });
        });
      }
      layer.drawn = true;
    });

    // New values (the same codes, new numbers): repaint the tiles already here, fetch nothing.
    layer.setValues = function (next) {
      values = next;
      classify();
      layer.rerenderTiles();
    };

    // The grid under a point: {code, name, value}, or null.
    layer.gridAt = function (latlng) {
      var found = null;
      layer.queryTileFeaturesDebug(latlng.lng, latlng.lat, 0).forEach(function (hits) {
        hits.forEach(function (hit) {
          if (hit.layerName === "grids") found = hit.feature;
        });
      });
      if (!found) return null;
      var code = String(found.id);
      return { code: code, name: found.props.name || "", value: value(code) };
    };

    // A tooltip that follows the pointer: grid name and code, then "label: value" (text, never HTML).
    layer.followWithTooltip = function (map, label, format) {
      var describe = function (grid) {
        var box = document.createElement("div");
        var name = document.createElement("b");
        name.textContent = grid.name;
        box.append(name, " " + grid.code, document.createElement("br"), label + ": " + format(grid.value));
        return box;
      };
      var tooltip = L.tooltip({ sticky: true, direction: "top", offset: [0, -8] });
      var pending = null;
      map.on("mousemove", function (e) {
        pending = e.latlng;
        window.requestAnimationFrame(function () {
          if (!pending || !map.hasLayer(layer)) return;
          var grid = layer.gridAt(pending);
          pending = null;
          if (!grid) {
            map.closeTooltip(tooltip);
            return;
          }
          tooltip.setLatLng(e.latlng).setContent(describe(grid));
          if (!map.hasLayer(tooltip)) map.openTooltip(tooltip);
        });
      });
      map.on("mouseout", function () { map.closeTooltip(tooltip); });
    };
    if (prefetched[options.url]) layer.views = prefetched[options.url]; // the first view's tiles, maybe decoded
    return layer;
  };
})();
