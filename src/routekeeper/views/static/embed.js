/* The route embed: planned line, numbered stops by status, the worker and their trail. */
(function () {
  "use strict";
  var RK = window.RK;

  RK.liveMap({ fitted: false }, function (map, view) {
    var line = L.polyline([], { color: "#2563eb", weight: 5, opacity: 0.7 }).addTo(map);
    var trail = L.polyline([], { color: "#111827", weight: 3, opacity: 0.75,
                                 dashArray: "2 7", lineCap: "round" }).addTo(map);
    var stops = L.layerGroup().addTo(map);
    view.line = line;
    view.trail = trail;

    return function draw(data) {
      view.data = data;
      line.setLatLngs(data.line || []);
      trail.setLatLngs(data.trail || []);
      stops.clearLayers();
      (data.stops || []).forEach(function (stop) {
        L.marker(stop.point, { icon: RK.stopIcon(stop.n, stop.status, stop.risk),
                               title: stop.title, keyboard: false, zIndexOffset: 100 })
          .addTo(stops);
      });
      var point = data.worker ? [data.worker.lat, data.worker.lon] : null;
      view.worker = RK.placeWorker(map, view.worker, point);
      if (!view.fitted) {
        RK.fit(map, [].concat(data.line || [], (data.stops || []).map(function (s) { return s.point; }),
                              point ? [point] : []));
        view.fitted = true;
      } else if (point) {
        map.panInside(point, { padding: [48, 48] });
      }
    };
  });
})();
