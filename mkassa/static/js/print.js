// "Print" buttons (`data-print`): shown only when this script runs, since
// printing from a button needs JavaScript; without it the browser's own menu
// prints the same page.
(() => {
  "use strict";
  for (const button of document.querySelectorAll("[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
})();
