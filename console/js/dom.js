// Building the page. Every value reaches the document as text (textContent or an attribute set
// through the DOM), never as markup, so a job title such as <img src=x onerror=alert(1)> shows as
// those characters and runs nothing.

/** An element: h("a", { href: "#/jobs" }, "Jobs"). Children may be strings, nodes, arrays or null. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `el` holds. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table with a header row; `rows` are arrays of cells. */
export function table(headers, rows, caption) {
  return h("div", { class: "scroll" },
    h("table", {},
      caption ? h("caption", { class: "muted" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))));
}

/** Key/value pairs as a description list. */
export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

/** An "empty" message that says what to do next. */
export function empty(...children) {
  return h("p", { class: "empty" }, ...children);
}

/** A time in the reader's locale, with the exact RFC 3339 value as its title. */
export function time(value) {
  if (!value) return "—";
  const date = new Date(value);
  return h("time", { datetime: value, title: value }, Number.isNaN(date.getTime()) ? value : date.toLocaleString());
}

const TONES = {
  ok: ["open", "completed", "succeeded", "enabled", "active", "success", "delivered"],
  bad: ["failed", "disabled", "revoked", "cancelled", "closed", "expired"],
};

/** A status as a coloured badge (the word is always shown: colour is not the only cue). */
export function badge(status) {
  const tone = TONES.ok.includes(status) ? "ok" : TONES.bad.includes(status) ? "bad" : "warn";
  return h("span", { class: `badge ${tone}` }, status ?? "—");
}

/** JSON, pretty-printed, as text. */
export function json(value) {
  return h("pre", { class: "mono", tabindex: "0" }, JSON.stringify(value, null, 2));
}

/** A link inside the console. */
export function link(hash, text) {
  return h("a", { href: hash }, text);
}

/** A button that runs `action`, disabled while it runs. */
export function button(text, action, attrs = {}) {
  const el = h("button", { type: "button", ...attrs }, text);
  el.addEventListener("click", async () => {
    el.disabled = true;
    try { await action(); } finally { el.disabled = false; }
  });
  return el;
}

/** A secret shown once, with a copy button. */
export function secretBox(title, secret, note) {
  const copy = button("Copy", async () => {
    await navigator.clipboard?.writeText(secret).catch(() => {});
    copy.textContent = "Copied";
  });
  return h("div", { class: "secret", role: "alert" },
    h("strong", {}, title), h("p", {}, note), h("p", {}, h("code", { "data-secret": "" }, secret), " ", copy));
}
