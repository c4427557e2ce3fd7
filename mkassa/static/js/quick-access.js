// Quick access: a phone keypad over the PIN field, and the intro pages as cards.
// Without this file the PIN field is an ordinary numeric input and the intro a
// plain list: nothing depends on it.
(() => {
  "use strict";

  const PIN_LENGTH = 4;

  function setUpPinEntry(box) {
    const input = box.querySelector("input");
    const dots = box.querySelectorAll(".pin-dots span");
    const keypad = box.querySelector(".pin-keypad");
    const show = () => dots.forEach((dot, i) => dot.classList.toggle("filled", i < input.value.length));
    keypad.hidden = false;
    keypad.addEventListener("click", (evt) => {
      const key = evt.target.closest("button")?.dataset.key;
      if (!key) return;
      if (key === "clear") input.value = "";
      else if (key === "back") input.value = input.value.slice(0, -1);
      else if (input.value.length < PIN_LENGTH) input.value += key;
      show();
      // The fourth digit submits, as on a phone's lock screen.
      if (input.value.length === PIN_LENGTH) input.form.requestSubmit();
    });
    input.addEventListener("input", () => {
      input.value = input.value.replace(/\D/g, "").slice(0, PIN_LENGTH);
      show();
    });
    show();
  }

  function setUpIntro(intro) {
    const cards = Array.from(intro.querySelectorAll("[data-intro-card]"));
    const next = intro.querySelector("[data-intro-next]");
    let current = 0;
    const show = () => cards.forEach((card, i) => { card.hidden = i !== current; });
    next.hidden = false;
    next.addEventListener("click", () => {
      if (current < cards.length - 1) {
        current += 1;
        show();
      } else {
        intro.querySelector("form").requestSubmit();
      }
    });
    show();
  }

  document.querySelectorAll("[data-pin-entry]").forEach(setUpPinEntry);
  document.querySelectorAll("[data-intro]").forEach(setUpIntro);
})();
