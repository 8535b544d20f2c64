// The component layer (部件) of the city map: lamps, covers, bins … from vector tiles
// (GET /v1/map/components/{z}/{x}/{y}.mvt, layer "components", from data zoom 15), drawn by protomaps-leaflet
// as dots coloured by class; a component with an open case is larger and ringed red.
// options: url, bounds, colours {class: colour}, other (the colour of a class not listed), open (ring colour).
(function () {
  "use strict";
  var MAX_DATA_ZOOM = 16;
  window.gridgovComponents = function (options) {
    var colour = function (z, f) {
      var c = f && f.props ? options.colours[f.props.category] : undefined;
      return c || options.other;
    };
    var isOpen = function (f) { return Boolean(f && f.props && f.props.open); };
    return protomapsL.leafletLayer({
      url: options.url,
      attribution: "",
      maxDataZoom: MAX_DATA_ZOOM,
      levelDiff: 1,
      bounds: options.bounds,
      paintRules: [
        {
          dataLayer: "components",
          symbolizer: new protomapsL.CircleSymbolizer({
            radius: function (z, f) { return isOpen(f) ? 6 : 3.5; },
            fill: colour,
            stroke: function (z, f) { return isOpen(f) ? options.open : "#ffffff"; },
            width: function (z, f) { return isOpen(f) ? 2.5 : 1; },
          }),
        },
      ],
    });
  };
}());
