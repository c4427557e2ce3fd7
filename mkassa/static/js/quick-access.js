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
    // The dots show what is typed; the field itself steps out of sight (it still takes a hardware
    // keyboard's digits and still carries the PIN), and the phone's own keyboard stays closed
    // instead of covering the keypad.
    box.classList.add("has-keypad");
    input.setAttribute("inputmode", "none");
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
    // The cards scroll sideways, a card a swipe (CSS scroll snapping); "Next" scrolls one card on
    // and, on the last, submits "Skip". Shown in the space the row keeps for it: nothing moves.
    const track = intro.querySelector("[data-intro-track]");
    const next = intro.querySelector("[data-intro-next]");
    const current = () => Math.round(track.scrollLeft / track.clientWidth);
    next.hidden = false;
    next.addEventListener("click", () => {
      const cards = track.querySelectorAll("[data-intro-card]").length;
      if (current() < cards - 1) track.scrollBy({ left: track.clientWidth, behavior: "smooth" });
      else intro.querySelector("form").requestSubmit();
    });
  }

  document.querySelectorAll("[data-pin-entry]").forEach(setUpPinEntry);
  document.querySelectorAll("[data-intro]").forEach(setUpIntro);
})();
