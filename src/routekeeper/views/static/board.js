/* The plans board: every route in its own colour (click one to open its embed view) and the
 * unplanned orders. */
(function () {
  "use strict";
  var RK = window.RK;
  var map = RK.makeMap();
  var data = RK.data();
  if (!map) {
    return;
  }
  var lines = {};
  var all = [];

  (data.routes || []).forEach(function (route) {
    function open() { window.location.assign(route.link); }
    var line = L.polyline(route.line, { color: route.colour, weight: 5, opacity: 0.85 })
      .bindTooltip(route.handle, { sticky: true })
      .on("click", open)
      .addTo(map);
    lines[route.handle] = line;
    route.points.forEach(function (stop) {
      L.marker(stop.point, { icon: RK.stopIcon(stop.n, stop.status, null, route.colour),
                             title: stop.title, keyboard: false })
        .on("click", open)
        .addTo(map);
      all.push(stop.point);
    });
    all = all.concat(route.line);
  });

  (data.unplanned || []).forEach(function (order) {
    L.marker(order.point, { icon: RK.unplannedIcon(), title: order.title, keyboard: false })
      .bindTooltip(order.title)
      .addTo(map);
    all.push(order.point);
  });

  RK.fit(map, all);
  RK.view = { map: map, lines: lines };

  /* Hovering a route in the list brings its line forward. */
  Array.prototype.forEach.call(document.querySelectorAll(".rk-route-link"), function (link) {
    var line = lines[link.getAttribute("data-route")];
    if (!line) {
      return;
    }
    link.addEventListener("mouseenter", function () { line.setStyle({ weight: 9 }).bringToFront(); });
    link.addEventListener("mouseleave", function () { line.setStyle({ weight: 5 }); });
  });
})();
