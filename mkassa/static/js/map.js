// Point location picker (M6.2) on the vendored Leaflet 1.9.4. Tap the map to drop the pin, drag it
// to move it; the pin is written into the form's latitude/longitude inputs, which stay visible and
// move the pin when typed into. Without this file, or without Leaflet, the form works as typed.
// When the map's tiles cannot load (offline, a blocked tile server) a message says so and to type
// the coordinates; the blank map still takes a tap.
(() => {
  "use strict";

  const BISHKEK = [42.8746, 74.5698];
  const START_ZOOM = 12;
  const PIN_ZOOM = 16;
  const DECIMALS = 6; // ~10 cm: more than a shop needs, less than the float noise

  function number(input) {
    const value = parseFloat((input.value || "").replace(",", "."));
    return Number.isFinite(value) ? value : null;
  }

  function init(el) {
    if (!window.L || el.dataset.ready) return;
    el.dataset.ready = "1";
    const lat = document.getElementById(el.dataset.latInput);
    const lng = document.getElementById(el.dataset.lngInput);
    const status = document.getElementById(el.dataset.status);
    const unavailable = document.getElementById(el.dataset.unavailable);
    el.hidden = false;
    status.hidden = false;

    const start = number(lat) !== null && number(lng) !== null ? [number(lat), number(lng)] : null;
    const map = L.map(el, { center: start || BISHKEK, zoom: start ? PIN_ZOOM : START_ZOOM });
    const tiles = L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.attribution }).addTo(map);
    let tileLoaded = false;
    tiles.on("tileload", () => {
      tileLoaded = true;
      unavailable.hidden = true;
    });
    tiles.on("tileerror", () => {
      // A grey box gives nothing to aim at: say so, and point to the coordinate fields.
      if (!tileLoaded) unavailable.hidden = false;
    });

    let marker = null;
    function write(latlng) {
      lat.value = latlng.lat.toFixed(DECIMALS);
      lng.value = latlng.lng.toFixed(DECIMALS);
      el.dataset.pinned = "1";
      status.textContent = status.dataset.set;
    }
    function place(latlng) {
      if (marker) {
        marker.setLatLng(latlng);
      } else {
        marker = L.marker(latlng, { draggable: true, autoPan: true, keyboard: true }).addTo(map);
        marker.on("dragend", () => write(marker.getLatLng()));
      }
      write(latlng);
    }

    map.on("click", (evt) => place(evt.latlng));
    // Typed coordinates move the pin (and the map to it) once both are numbers.
    for (const input of [lat, lng]) {
      input.addEventListener("change", () => {
        const typed = [number(lat), number(lng)];
        if (typed.includes(null) || Math.abs(typed[0]) > 90 || Math.abs(typed[1]) > 180) return;
        const latlng = L.latLng(typed);
        if (marker) marker.setLatLng(latlng);
        else place(latlng);
        map.setView(latlng, Math.max(map.getZoom(), PIN_ZOOM));
      });
    }
    // Keyboard users pan with the arrows and press Enter to pin the centre.
    map.on("keypress", (evt) => {
      if (evt.originalEvent.key === "Enter") {
        evt.originalEvent.preventDefault();
        place(map.getCenter());
      }
    });
    if (start) place(L.latLng(start));
    else status.textContent = status.dataset.empty;
  }

  function scan(root) {
    if (root?.querySelectorAll) root.querySelectorAll("[data-map]").forEach(init);
  }
  document.addEventListener("htmx:after:process", (evt) => scan(evt.target));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => scan(document));
  else scan(document);
})();
