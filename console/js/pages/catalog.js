// The event catalog: every webhook event type with its description, JSON Schema and example,
// from the `webhooks` section of this server's own /openapi.json (the same files as spec/webhooks/).

import { h, fill, json, empty } from "../dom.js";

/** A paragraph whose `backticked` parts are shown as code (every part still goes in as text). */
function prose(text) {
  return h("p", {}, text.split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part)));
}

/** Resolves local `$ref`s, so each schema reads on its own. */
function resolve(node, components, seen = new Set()) {
  if (Array.isArray(node)) return node.map((n) => resolve(n, components, seen));
  if (!node || typeof node !== "object") return node;
  if (typeof node.$ref === "string" && node.$ref.startsWith("#/components/schemas/")) {
    const name = node.$ref.slice("#/components/schemas/".length);
    if (seen.has(name)) return { $ref: node.$ref };
    return resolve(components[name], components, new Set([...seen, name]));
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolve(v, components, seen)]));
}

export async function render(view) {
  const response = await fetch("/openapi.json", { cache: "no-store", credentials: "omit" });
  const doc = await response.json();
  const components = doc.components?.schemas ?? {};
  const events = Object.entries(doc.webhooks ?? {});
  fill(view,
    h("h1", {}, "Event catalog"),
    h("p", { class: "muted" }, "Every event this server sends, signed per Standard Webhooks. Subscribe an endpoint to some or all of them."),
    events.length ? h("nav", { "aria-label": "Event types" }, h("ul", {}, events.map(([name]) => h("li", {}, h("a", { href: `#catalog-${name}` }, name))))) : empty("No events."),
    events.map(([name, item]) => {
      const op = item.post ?? {};
      const media = op.requestBody?.content?.["application/json"] ?? {};
      const schema = resolve(media.schema ?? {}, components);
      const example = media.example ?? Object.values(media.examples ?? {})[0]?.value ?? schema.example;
      return h("section", { id: `catalog-${name}`, "aria-labelledby": `catalog-${name}-title` },
        h("h2", { id: `catalog-${name}-title` }, name),
        (op.description ?? op.summary ?? "").split("\n\n").map(prose),
        h("details", {}, h("summary", {}, "JSON Schema"), json(schema)),
        example ? h("details", { open: true }, h("summary", {}, "Example"), json(example)) : null);
    }));
}
