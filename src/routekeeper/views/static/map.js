/* Routekeeper views: the map, its markers and the live stream, shared by every page.
 * Leaflet is optional at run time: without it the pages keep their server-rendered panels. */
(function () {
  "use strict";
  var RK = (window.RK = window.RK || {});
  var TILE_WAIT_MS = 4000;

  function cssClass(text) {
    return String(text || "").replace(/[^a-z0-9_-]/gi, "");
  }
  RK.cssClass = cssClass;

  /* The map data the server rendered into the page. */
  RK.data = function () {
    var el = document.getElementById("rk-map-data");
    return el ? JSON.parse(el.textContent) : {};
  };

  /* A Leaflet map in #map with the configured tiles; when no tile loads (offline, blocked,
   * or a tile server that is down) the lines and markers stay on a plain background. */
  RK.makeMap = function () {
    var el = document.getElementById("map");
    var wrap = el.parentNode;
    if (!window.L) {
      wrap.classList.add("rk-no-map");
      wrap.querySelector(".rk-missing-note").hidden = false;
      return null;
    }
    // No view yet: the page fits its points first, so no tiles are asked for the world view.
    var map = L.map(el, { zoomSnap: 0.5, worldCopyJump: true });
    var offlineNote = wrap.querySelector(".rk-offline-note");
    var loaded = 0;
    function offline() {
      if (loaded === 0) {
        wrap.classList.add("rk-tiles-offline");
        offlineNote.hidden = false;
      }
    }
    var url = el.getAttribute("data-tile-url");
    if (url) {
      var layer = L.tileLayer(url, {
        attribution: el.getAttribute("data-tile-attribution") || "",
        maxZoom: 19
      });
      layer.on("tileload", function () {
        loaded += 1;
        wrap.classList.remove("rk-tiles-offline");
        offlineNote.hidden = true;
      });
      layer.on("tileerror", offline);
      layer.addTo(map);
      window.setTimeout(offline, TILE_WAIT_MS);
    } else {
      offline();
    }
    var roads = el.getAttribute("data-road-attribution");
    if (roads && map.attributionControl) {
      // Shown even when no tile loads: the route lines themselves come from OpenStreetMap.
      map.attributionControl.addAttribution(roads);
    }
    return map;
  };

  /* Fit the map to some [lat, lon] points (a close zoom for a single one, the world for none). */
  RK.fit = function (map, points) {
    var valid = points.filter(function (p) { return p && p.length === 2; });
    if (valid.length === 0) {
      map.setView([20, 0], 2);
    } else if (valid.length === 1) {
      map.setView(valid[0], 15);
    } else if (valid.length > 1) {
      map.fitBounds(L.latLngBounds(valid), { padding: [36, 36], maxZoom: 16 });
    }
  };

  function pin(className, text, colour) {
    var span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    if (colour) {
      span.style.backgroundColor = colour;
    }
    return span;
  }

  /* A numbered stop, coloured by its order's status (or a route's colour), ringed when at risk. */
  RK.stopIcon = function (n, status, risk, colour) {
    var className = "rk-pin rk-s-" + cssClass(status) + (risk ? " rk-pin-risk-" + cssClass(risk) : "");
    return L.divIcon({ className: "rk-pin-wrap", html: pin(className, String(n), colour),
                       iconSize: [26, 26], iconAnchor: [13, 13] });
  };

  RK.workerIcon = function () {
    return L.divIcon({ className: "rk-pin-wrap rk-worker-icon", html: pin("rk-worker-dot", ""),
                       iconSize: [22, 22], iconAnchor: [11, 11] });
  };

  RK.destinationIcon = function () {
    return L.divIcon({ className: "rk-pin-wrap rk-destination-icon", html: pin("rk-dest-pin", ""),
                       iconSize: [28, 28], iconAnchor: [14, 14] });
  };

  RK.unplannedIcon = function () {
    return L.divIcon({ className: "rk-pin-wrap rk-unplanned-icon", html: pin("rk-unplanned-pin", "!"),
                       iconSize: [20, 20], iconAnchor: [10, 10] });
  };

  /* Show or move the worker's marker, and record where it is on the map element. */
  RK.placeWorker = function (map, marker, point) {
    var el = document.getElementById("map");
    if (!point) {
      if (marker) {
        map.removeLayer(marker);
      }
      el.removeAttribute("data-worker");
      return null;
    }
    if (marker) {
      marker.setLatLng(point);
    } else {
      marker = L.marker(point, { icon: RK.workerIcon(), zIndexOffset: 1000, keyboard: false,
                                 title: "Live position" }).addTo(map);
    }
    el.setAttribute("data-worker", point[0].toFixed(6) + "," + point[1].toFixed(6));
    return marker;
  };

  RK.setPanel = function (html) {
    var panel = document.getElementById("rk-panel");
    if (panel && typeof html === "string") {
      panel.innerHTML = html;
    }
  };

  /* Start a page that follows its live state: the side panel is replaced on every state,
   * and, when Leaflet is there, `setup(map, view)` adds the page's layers and returns the
   * function that draws a state's map data. `view` (with the map, the data and the worker's
   * marker added) becomes RK.view, the page's state that the browser tests read. */
  RK.liveMap = function (view, setup) {
    var map = RK.makeMap();
    view.map = map;
    view.data = RK.data();
    view.worker = null;
    RK.view = view;
    var draw = map ? setup(map, view) : null;
    if (draw) {
      draw(view.data);
    }
    RK.live(function (payload) {
      RK.setPanel(payload.panel);
      if (draw) {
        draw(payload.map);
      }
    });
  };

  /* Follow the page's event stream; EventSource reconnects by itself when a stream ends. */
  RK.live = function (onState) {
    var el = document.getElementById("map");
    var url = el && el.getAttribute("data-events");
    var badge = document.getElementById("rk-live");
    function show(state, text) {
      if (badge) {
        badge.setAttribute("data-state", state);
        badge.textContent = text;
      }
    }
    if (!url || !window.EventSource) {
      show("closed", "Not live");
      return null;
    }
    var source = new EventSource(url);
    source.addEventListener("open", function () { show("live", "Live"); });
    source.addEventListener("state", function (event) {
      show("live", "Live");
      onState(JSON.parse(event.data));
    });
    source.addEventListener("gone", function () {
      source.close();
      show("closed", "No longer available");
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        show("closed", "Not live: reload the page");
      } else {
        show("connecting", "Reconnecting");
      }
    });
    return source;
  };
})();
