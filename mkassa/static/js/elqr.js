// ELQR links built in the browser: the build half of mkassa/elqr.py, for a QR made while the phone
// is offline (issue #16). Its output must equal build() in mkassa/elqr.py byte for byte, for every
// input either accepts (tests/e2e/test_elqr_js.py runs both on the same generated inputs); an input
// elqr.py refuses is refused here too. Lengths count UTF-16 code units, which is what a JavaScript
// string's length is. The checksum is SHA-256 by Web Crypto, so build() returns a Promise.
//
// Fields use elqr.py's names: {type, provider_id, service_code, recipient_id, transaction_id,
// amount_editable, recipient_editable, merchant_id, service_name, comment, additional: [{key, label,
// value, title, visible, template}], mcc, currency, amount (integer tyiyn), name, version, unknown}.
(() => {
  "use strict";

  const VERSION = "01";
  const KGS = "417";
  const DEFAULT_BASE_URL = "https://app.mbank.kg/qr/";
  const MAX_LENGTH = 99;
  const MAX_TEXT_LENGTH = 32;
  const MAX_NAME_LENGTH = 25;
  const MAX_AMOUNT_DIGITS = 13;
  const CHECKSUM_LENGTH = 4;
  const TYPE_CODES = { static: "11", dynamic: "12" };
  const ADDITIONAL_IDS = ["35", "36", "37", "38", "39"];
  const TEXT_FIELDS = [
    ["32/00", "provider_id", MAX_TEXT_LENGTH],
    ["32/01", "service_code", MAX_TEXT_LENGTH],
    ["32/10", "recipient_id", MAX_TEXT_LENGTH],
    ["32/11", "transaction_id", MAX_TEXT_LENGTH],
    ["33/00", "merchant_id", MAX_TEXT_LENGTH],
    ["33/01", "service_name", MAX_TEXT_LENGTH],
    ["34", "comment", MAX_TEXT_LENGTH],
    ["59", "name", MAX_NAME_LENGTH],
  ];
  const FLAG_FIELDS = [["32/12", "amount_editable"], ["32/13", "recipient_editable"]];
  // Paths with a meaning of their own: `unknown` may not use them (elqr.py's _NAMES).
  const NAMED = new Set(["00", "01", "32", "33", ...TEXT_FIELDS.map((f) => f[0]), ...FLAG_FIELDS.map((f) => f[0]),
                         ...ADDITIONAL_IDS, "52", "53", "54", "63"]);

  class ElqrError extends Error {}

  function fail(path, problem) {
    throw new ElqrError(`field ${path}: ${problem}`);
  }

  const digits = (text, count) => new RegExp(count === undefined ? "^[0-9]+$" : `^[0-9]{${count}}$`).test(text);
  const absent = (value) => value === undefined || value === null;

  function checkText(path, value, limit, allowEmpty = false) {
    if (typeof value !== "string") fail(path, "must be text or None");
    if (!value && !allowEmpty) fail(path, "empty; use None to leave it out");
    for (const char of value) {
      const code = char.codePointAt(0);
      if (code > 0xffff) fail(path, "character outside the Basic Multilingual Plane");
      if (code >= 0xd800 && code <= 0xdfff) fail(path, "lone surrogate is not text");
    }
    if (value.length > limit) fail(path, `longer than ${limit} characters`);
    return value;
  }

  function flatten(q) {
    const version = absent(q.version) ? VERSION : q.version;
    if (version !== VERSION) fail("00", `must be '${VERSION}'`);
    const flat = new Map([["00", version]]);
    const type = absent(q.type) ? "static" : q.type;
    if (!Object.hasOwn(TYPE_CODES, type)) fail("01", "must be 'static' or 'dynamic'");
    flat.set("01", TYPE_CODES[type]);
    const dynamic = type === "dynamic";
    for (const [path, attribute, limit] of TEXT_FIELDS) {
      if (!absent(q[attribute])) flat.set(path, checkText(path, q[attribute], limit));
    }
    if (absent(q.provider_id)) fail("32/00", "required");
    if (absent(q.service_code) && absent(q.merchant_id)) fail("32/01", "required unless merchant_id (33/00) is set");
    for (const [path, attribute] of FLAG_FIELDS) {
      let flag = q[attribute];
      if (path === "32/12" && absent(flag) && dynamic) flag = false;
      if (!absent(flag)) {
        if (typeof flag !== "boolean") fail(path, "must be True, False or None");
        flat.set(path, flag ? "11" : "12");
      }
    }
    if (!absent(q.mcc)) {
      if (typeof q.mcc !== "string" || !digits(q.mcc, 4)) fail("52", "must be 4 digits");
      flat.set("52", q.mcc);
    }
    const currency = absent(q.currency) ? KGS : q.currency;
    if (typeof currency !== "string" || !digits(currency, 3)) fail("53", "must be 3 digits");
    flat.set("53", currency);
    if (absent(q.amount)) {
      if (dynamic) fail("54", "required on a dynamic link");
    } else {
      if (!Number.isSafeInteger(q.amount) || q.amount <= 0) {
        fail("54", "must be an int number of tyiyn greater than zero; None for no amount");
      }
      if (q.amount >= 10 ** MAX_AMOUNT_DIGITS) fail("54", `longer than ${MAX_AMOUNT_DIGITS} digits`);
      flat.set("54", String(q.amount));
    }
    for (const [path, value] of Object.entries(q.unknown || {})) {
      if (!/^(?:3[23]\/)?[0-9]{2}$/.test(path) || NAMED.has(path)) fail(path, "not an element id this codec leaves free");
      flat.set(path, checkText(path, value, MAX_LENGTH));
    }
    return flat;
  }

  function checkAdditional(item) {
    const template = absent(item?.template) ? "35" : item.template;
    if (typeof item !== "object" || item === null || !ADDITIONAL_IDS.includes(template)) {
      fail("35", "each item must be an AdditionalField with template '35' to '39'");
    }
    for (const name of ["key", "label", "value", "title"]) {
      const part = absent(item[name]) ? "" : item[name];
      checkText(template, part, MAX_LENGTH, true);
      if (part.includes(":")) fail(template, "a part contains ':', which separates the parts");
    }
    if (!absent(item.visible) && typeof item.visible !== "boolean") fail(template, "visible must be True or False");
    return template;
  }

  function tlv(path, value) {
    if (value.length > MAX_LENGTH) fail(path, `longer than ${MAX_LENGTH} characters once encoded`);
    return path.split("/").pop() + String(value.length).padStart(2, "0") + value;
  }

  async function computeChecksum(payload) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(payload));
    const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    return hex.slice(-CHECKSUM_LENGTH).toUpperCase();
  }

  // Python's quote(text, safe=""): everything but A-Z a-z 0-9 - . _ ~ as UTF-8 %XX.
  const quote = (text) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());

  async function build(q, baseUrl = DEFAULT_BASE_URL) {
    if (typeof q !== "object" || q === null) throw new ElqrError("build: expected an Elqr");
    if (typeof baseUrl !== "string" || baseUrl.includes("#")) throw new ElqrError("base_url: must be text without '#'");
    const flat = flatten(q);
    const templates = new Map();
    const subsOf = (parent) => {
      if (!templates.has(parent)) templates.set(parent, new Map());
      return templates.get(parent);
    };
    for (const [path, value] of flat) {
      const [parent, sub] = path.split("/");
      if (sub !== undefined) subsOf(parent).set(sub, value);
    }
    for (const item of q.additional || []) {
      const subs = subsOf(checkAdditional(item));
      const visible = absent(item.visible) ? true : item.visible;
      const parts = ["key", "label", "value", "title"].map((name) => (absent(item[name]) ? "" : item[name]));
      subs.set(String(subs.size).padStart(2, "0"), [...parts, visible ? "11" : "12"].join(":"));
    }
    const top = new Map([...flat].filter(([path]) => !path.includes("/")));
    for (const [parent, subs] of templates) {
      top.set(parent, [...subs.keys()].sort().map((sub) => tlv(`${parent}/${sub}`, subs.get(sub))).join(""));
    }
    let payload = [...top.keys()].sort().map((id) => tlv(id, top.get(id))).join("");
    payload += tlv("63", await computeChecksum(payload));
    return `${baseUrl}#${quote(payload)}`;
  }

  globalThis.MkassaElqr = { build, computeChecksum, ElqrError, DEFAULT_BASE_URL };
})();
