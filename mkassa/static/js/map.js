// Point location picker (M6.2) on the vendored Leaflet 1.9.4. Tap the map to drop the pin, drag it
// to move it; the pin is written into the form's latitude/longitude inputs. Without this file, or
// without Leaflet, those inputs stay visible and the form works as typed. Tiles that cannot load
// (offline, a blocked tile server) leave a blank map that still takes the tap.
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
    const manual = document.getElementById(el.dataset.manual);
    el.hidden = false;
    status.hidden = false;
    manual.hidden = true;

    const start = number(lat) !== null && number(lng) !== null ? [number(lat), number(lng)] : null;
    const map = L.map(el, { center: start || BISHKEK, zoom: start ? PIN_ZOOM : START_ZOOM });
    L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.attribution }).addTo(map);

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
