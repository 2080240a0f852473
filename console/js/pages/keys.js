// API keys: the list with last use, create (the secret shown once), revoke.

import { api, seg } from "../api.js";
import { h, fill, table, empty, time, badge, button, secretBox } from "../dom.js";
import { values } from "./shared.js";

const SCOPES = ["jobs:read", "jobs:write", "applications:read", "applications:write", "webhooks:read", "webhooks:write",
  "keys:read", "keys:write", "sandbox", "audit:read"];

function state(key) {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return "expired";
  return "active";
}

export async function render(view, _id, ctx) {
  const page = await api("GET", "/v1/api-keys?limit=100");
  const form = h("form", { class: "stack", "aria-label": "Create a key" },
    h("label", {}, "Name", h("input", { name: "name", id: "key-name", required: true, maxlength: 100 })),
    h("label", {}, "Expires at (optional)", h("input", { name: "expires_at", type: "datetime-local" })),
    h("fieldset", {}, h("legend", {}, "Scopes (none ticked: all)"),
      SCOPES.map((s) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "scopes", value: s }), ` ${s}`))),
    h("button", { type: "submit", class: "primary" }, "Create key"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = values(form);
    const scopes = [...form.querySelectorAll("input[name=scopes]:checked")].map((i) => i.value);
    try {
      const created = await api("POST", "/v1/api-keys", {
        name: v.name,
        expires_at: v.expires_at ? new Date(v.expires_at).toISOString().replace(/\.\d{3}Z$/, "Z") : undefined,
        scopes: scopes.length ? scopes : undefined,
      });
      ctx.flash(`Created key ${created.key.name}.`);
      await render(view, _id, ctx);
      view.prepend(secretBox("New API key", created.secret, "Send it as Authorization: Bearer …. It is shown only now."));
    } catch (e) { ctx.flash(e, true); }
  });
  fill(view, h("h1", {}, "API keys"),
    page.data.length ? table(["Name", "Prefix", "State", "Scopes", "Last used", "Uses", "Created", ""], page.data.map((k) => [
      k.name, h("code", {}, k.prefix), badge(state(k)), k.scopes.join(", "), time(k.last_used_at), String(k.usage_count ?? 0),
      time(k.created_at),
      k.revoked_at ? "" : button("Revoke", async () => {
        if (!confirm(`Revoke the key ${k.name}? Requests with it fail from now on.`)) return;
        try {
          await api("DELETE", `/v1/api-keys/${seg(k.id)}`);
          ctx.flash(`Revoked ${k.name}.`);
          await render(view, _id, ctx);
        } catch (e) { ctx.flash(e, true); }
      }, { class: "danger", "aria-label": `Revoke ${k.name}` })]))
      : empty("No keys."),
    h("h2", {}, "Create a key"), form);
}
