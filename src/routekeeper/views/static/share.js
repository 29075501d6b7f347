/* The customer's share page (and the ops order embed, which adds the worker's trail): the
   destination, and the worker only while on the way here. */
(function () {
  "use strict";
  var RK = window.RK;

  RK.liveMap({ destination: null }, function (map, view) {
    // Only the order embed sends a trail; the share page's data has none.
    var trail = L.polyline([], { color: "#111827", weight: 3, opacity: 0.75,
                                 interactive: false }).addTo(map);
    view.trail = trail;

    return function draw(data) {
      var first = view.destination === null && !view.worker;
      view.data = data;
      trail.setLatLngs(data.trail || []);
      if (data.destination && !view.destination) {
        view.destination = L.marker(data.destination, { icon: RK.destinationIcon(),
                                                        keyboard: false,
                                                        title: "Destination" }).addTo(map);
      }
      var appeared = data.worker && !view.worker;
      view.worker = RK.placeWorker(map, view.worker, data.worker);
      var points = [data.destination, data.worker];
      if (first || appeared) {
        RK.fit(map, points);
      } else if (data.worker && !map.getBounds().contains(data.worker)) {
        RK.fit(map, points);
      }
    };
  });
})();
