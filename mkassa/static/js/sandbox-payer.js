// Sandbox payer: a link opened as /sandbox/pay#<ELQR fragment> keeps its payload in the fragment,
// which browsers never send to the server; hand it over as ?link= instead.
(() => {
  "use strict";
  if (location.hash.length > 1 && !new URLSearchParams(location.search).has("link")) {
    location.replace(`${location.pathname}?link=${encodeURIComponent(location.hash.slice(1))}`);
  }
})();
