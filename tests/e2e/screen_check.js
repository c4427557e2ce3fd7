// The screen check's eyes (tests/e2e/test_screens.py): what a person would notice, computed from
// the rendered page. Evaluated in the page as a function of {targets: bool}; returns plain data.
//
// Contrast: axe's own rule missed white digits on white keys, so every visible text node (and
// every form control's own text) is measured here against the colour actually painted behind it:
// the ancestors' background colours composited from the nearest opaque one up to the text, with
// alpha and opacity, over the page's canvas. Colours are read through a canvas, so any CSS colour
// syntax the browser returns (rgb, color(srgb …), oklch …) is resolved by the browser itself.
(opts) => {
  // Measure the settled screen, not a frame of an entrance animation (the success screen fades in).
  for (const animation of document.getAnimations()) {
    if (animation.effect?.getTiming().iterations !== Infinity) animation.finish();
  }
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const cache = new Map();

  function rgba(css) {
    if (cache.has(css)) return cache.get(css);
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = "rgba(0, 0, 0, 0)";
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    // getImageData un-premultiplies; a fully transparent pixel has no colour.
    const value = { r, g, b, a: a / 255 };
    cache.set(css, value);
    return value;
  }

  function over(top, bottom) {            // "top" composited over an opaque "bottom"
    const a = top.a;
    return { r: top.r * a + bottom.r * (1 - a), g: top.g * a + bottom.g * (1 - a),
             b: top.b * a + bottom.b * (1 - a), a: 1 };
  }

  function luminance(c) {
    const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  }

  function ratio(a, b) {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  }

  const canvasColour = (() => {
    // The page canvas takes the root's background, or the body's when the root has none.
    for (const el of [document.documentElement, document.body]) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c.a > 0) return over(c, { r: 255, g: 255, b: 255, a: 1 });
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  })();

  // The background painted behind `el`: {colour} or {unknown: reason} when an image or gradient
  // sits between the text and the nearest opaque colour (then no honest number exists).
  function backgroundOf(el) {
    const layers = [];
    let opacity = 1;
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const style = getComputedStyle(node);
      opacity *= parseFloat(style.opacity);
      // A form control's background image is Pico's arrow or calendar icon at its edge, not behind its text.
      const control = node.matches("input, select, textarea");
      if (!control && style.backgroundImage && style.backgroundImage !== "none") {
        return { unknown: `background image on <${node.tagName.toLowerCase()} class="${node.className}">` };
      }
      const c = rgba(style.backgroundColor);
      if (c.a > 0) {
        layers.push(c);
        if (c.a >= 1) break;
      }
    }
    let colour = canvasColour;
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return { colour, opacity };
  }

  function visible(el) {
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) return false;
    const rect = el.getBoundingClientRect();
    // Screen-reader-only text (1 × 1 px, clipped) is not seen, so it has no contrast to keep.
    if (rect.width <= 1 || rect.height <= 1) return false;
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.clipPath === "inset(50%)" || style.clip === "rect(0px, 0px, 0px, 0px)") return false;
    }
    return true;
  }

  function describe(el) {
    const id = el.id ? `#${el.id}` : "";
    const testid = el.dataset && el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : "";
    const cls = typeof el.className === "string" && el.className ? `.${el.className.trim().split(/\s+/).join(".")}` : "";
    return `<${el.tagName.toLowerCase()}${id}${testid}${cls}>`;
  }

  function large(style) {
    const size = parseFloat(style.fontSize);
    return size >= 24 || (size >= 18.66 && parseInt(style.fontWeight, 10) >= 700);
  }

  const contrast = [];
  const seen = new Set();
  function checkText(el, text) {
    if (seen.has(el)) return;
    seen.add(el);
    if (!visible(el)) return;
    // A disabled control is exempt from contrast minimums (WCAG 1.4.3, "inactive").
    if (el.closest("[disabled], [aria-disabled=true]")) return;
    const style = getComputedStyle(el);
    const bg = backgroundOf(el);
    const sample = text.trim().slice(0, 40);
    if (bg.unknown) {
      contrast.push({ el: describe(el), text: sample, problem: bg.unknown });
      return;
    }
    const fg = rgba(style.color);
    const alpha = fg.a * bg.opacity;
    const painted = over({ ...fg, a: alpha }, bg.colour);
    const value = ratio(painted, bg.colour);
    const need = large(style) ? 3 : 4.5;
    if (value < need) {
      contrast.push({ el: describe(el), text: sample, ratio: Math.round(value * 100) / 100, need,
                      color: style.color, background: `rgb(${bg.colour.r}, ${bg.colour.g}, ${bg.colour.b})` });
    }
  }

  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.nodeValue.trim() ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT),
  });
  // Text cut at the screen's edge: a text node drawn past the left or right of the viewport (say,
  // in a fixed full-screen layer, which the page's scrollWidth does not count), unless it sits in
  // a box the reader can scroll sideways (a wide table in .overflow-auto).
  const cut = [];
  const width = document.documentElement.clientWidth;
  function scrollable(el) {
    for (let node = el; node && node !== document.body; node = node.parentElement) {
      const overflowX = getComputedStyle(node).overflowX;
      if ((overflowX === "auto" || overflowX === "scroll") && node.scrollWidth > node.clientWidth) return true;
    }
    return false;
  }
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("script, style, noscript, template, option, svg")) continue;
    checkText(parent, node.nodeValue);
    if (!visible(parent)) continue;
    range.selectNodeContents(node);
    const rect = range.getBoundingClientRect();
    if ((rect.left < -0.5 || rect.right > width + 0.5) && !scrollable(parent)) {
      cut.push({ el: describe(parent), text: node.nodeValue.trim().slice(0, 40),
                 left: Math.round(rect.left), right: Math.round(rect.right) });
    }
  }
  // Text a control draws itself (an input's value, a select's choice) is not a text node.
  for (const el of document.querySelectorAll("input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea")) {
    const text = el.tagName === "SELECT" ? (el.selectedOptions[0]?.text || "") : el.value;
    if (text.trim()) checkText(el, text);
  }

  // An amount is read as one figure: "2 206 921,98 со / м" over two lines is as bad as cut off.
  const AMOUNT = /^[−+-]?\d[\d\s\u00a0\u202f,.]*\u00a0(сом|som)$/;
  for (const el of document.querySelectorAll(".amount-hero, .amount, [data-amount]")) {
    const text = el.textContent.trim();
    if (!AMOUNT.test(text) || !visible(el)) continue;
    range.selectNodeContents(el);
    const lines = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top)));
    if (lines.size > 1) cut.push({ el: describe(el), text, left: 0, right: 0, split: true });
  }

  // A select showing its choice cut short ("Бардык сату…"): the choice's text is wider than the
  // room the control leaves it (its content box, less the arrow Pico draws in the right padding).
  for (const el of document.querySelectorAll("select")) {
    if (!visible(el) || !el.selectedOptions[0]) continue;
    const style = getComputedStyle(el);
    ctx.font = style.font;
    const text = el.selectedOptions[0].text.trim();
    const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const needed = ctx.measureText(text).width;
    if (needed > room + 1) cut.push({ el: describe(el), text, left: Math.round(needed), right: Math.round(room) });
  }

  // A box that scrolls sideways hides part of its content (a table's last column off a phone, or
  // off a 1366-px console): no screen has one, except a row of cards that snaps (below).
  const sideways = [];
  {
    for (const el of document.querySelectorAll("body *")) {
      const overflowX = getComputedStyle(el).overflowX;
      // A row of cards that snaps (the intro) scrolls sideways on purpose: one card shows at a time.
      const carousel = getComputedStyle(el).scrollSnapType.startsWith("x");
      if ((overflowX === "auto" || overflowX === "scroll") && !carousel && el.scrollWidth > el.clientWidth + 1 && visible(el)) {
        sideways.push({ el: describe(el), scrollWidth: el.scrollWidth, clientWidth: el.clientWidth });
      }
    }
  }

  // Tap targets: what a thumb presses. A checkbox or radio counts with its label.
  const targets = [];
  if (opts.targets) {
    const selector = "a[href], button, [role=button], summary, select, input[type=submit], input[type=button], input[type=checkbox], input[type=radio]";
    for (const el of document.querySelectorAll(selector)) {
      if (!visible(el) && !(el.matches("input[type=checkbox], input[type=radio]") && el.closest("label"))) continue;
      const box = (el.matches("input[type=checkbox], input[type=radio]") && el.closest("label")) || el;
      if (!visible(box)) continue;
      const rect = box.getBoundingClientRect();
      if (rect.width < 44 || rect.height < 44) {
        targets.push({ el: describe(el), text: (box.innerText || box.value || box.getAttribute("aria-label") || "").trim().slice(0, 40),
                       width: Math.round(rect.width * 10) / 10, height: Math.round(rect.height * 10) / 10 });
      }
    }
  }

  return {
    scrollWidth: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    contrast,
    targets,
    cut,
    sideways,
  };
}
