// Webhook endpoints: create (event types, custom headers, rate limit; the secret shown once),
// and on an endpoint's page enable or disable, rotate the secret, send a test event, delete.

import { api, seg } from "../api.js";
import { h, fill, table, empty, time, badge, link, kv, button, secretBox, json } from "../dom.js";
import { values } from "./shared.js";

export const EVENT_TYPES = ["interview.completed", "interview.failed", "application.status_changed", "webhook.test"];

/** "x-team: logistics" lines as an object. */
function parseHeaders(text) {
  const headers = {};
  for (const line of (text ?? "").split("\n").map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf(":");
    if (at < 1) throw new Error(`A header line needs "name: value": ${line}`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

export async function list(view, _id, ctx) {
  const page = await api("GET", "/v1/webhook-endpoints?limit=100");
  const types = EVENT_TYPES.map((t) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "event_types", value: t }), ` ${t}`));
  const form = h("form", { class: "stack", "aria-label": "Create an endpoint" },
    h("label", {}, "URL", h("input", { name: "url", id: "endpoint-url", type: "url", required: true, placeholder: "http://127.0.0.1:9090/webhooks" })),
    h("label", {}, "Description", h("input", { name: "description", maxlength: 500 })),
    h("fieldset", {}, h("legend", {}, "Event types (none ticked: all)"), types),
    h("label", {}, "Custom headers, one \"name: value\" per line", h("textarea", { name: "headers", rows: 2 })),
    h("label", {}, "Rate limit (deliveries per second, optional)", h("input", { name: "rate", type: "number", min: 1, max: 10000 })),
    h("button", { type: "submit", class: "primary" }, "Create endpoint"));
  const secretSlot = h("div");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = values(form);
    try {
      const body = {
        url: v.url,
        description: v.description || undefined,
        event_types: [...form.querySelectorAll("input[name=event_types]:checked")].map((i) => i.value),
        headers: parseHeaders(v.headers),
        rate_limit_per_second: v.rate ? Number(v.rate) : undefined,
      };
      const created = await api("POST", "/v1/webhook-endpoints", body);
      ctx.flash("Endpoint created. Copy its signing secret now: it is not shown again.");
      fill(secretSlot, secretBox("Signing secret", created.secret,
        "Verify webhook-signature with it. It is shown only now."), link(`#/endpoints/${created.endpoint.id}`, "Open the endpoint →"));
    } catch (e) { ctx.flash(e, true); }
  });
  fill(view, h("h1", {}, "Webhook endpoints"), secretSlot,
    page.data.length
      ? table(["URL", "State", "Events", "Created"], page.data.map((e) => [link(`#/endpoints/${e.id}`, e.url),
        badge(e.enabled ? "enabled" : "disabled"), e.event_types.length ? e.event_types.join(", ") : "all", time(e.created_at)]))
      : empty("No endpoints yet. Create one below, or run ", h("code", {}, "webhook-sim receive --secret whsec_…"),
        " to get a local receiver."),
    h("h2", {}, "Create an endpoint"), form);
}

/** An endpoint's page; `shown` is a secret just issued, to show once above it. */
export async function detail(view, id, ctx, shown = null) {
  const e = await api("GET", `/v1/webhook-endpoints/${seg(id)}`);
  const path = `/v1/webhook-endpoints/${seg(id)}`;
  const testType = h("select", { id: "test-event-type" }, EVENT_TYPES.slice().reverse().map((t) => h("option", { value: t }, t)));
  const act = (label, fn, attrs) => button(label, async () => { try { await fn(); } catch (err) { ctx.flash(err, true); } }, attrs);
  fill(view,
    h("p", {}, link("#/endpoints", "← Endpoints")),
    h("h1", {}, e.url),
    shown,
    kv([["Id", h("code", {}, e.id)], ["State", badge(e.enabled ? "enabled" : "disabled")], ["Why disabled", e.disabled_reason],
      ["Description", e.description], ["Events", e.event_types.length ? e.event_types.join(", ") : "all"],
      ["Headers", Object.keys(e.headers ?? {}).length ? Object.entries(e.headers).map(([k, v]) => `${k}: ${v}`).join("; ") : null],
      ["Rate limit", e.rate_limit_per_second ? `${e.rate_limit_per_second}/s` : "none"],
      ["Secret since", time(e.secret_created_at)],
      ["Old secret signs until", e.previous_secret_expires_at ? time(e.previous_secret_expires_at) : null]]),
    h("div", { class: "actions" },
      act(e.enabled ? "Disable" : "Enable", async () => {
        await api("PATCH", path, { enabled: !e.enabled });
        ctx.flash(e.enabled ? "Endpoint disabled." : "Endpoint enabled.");
        ctx.refresh();
      }),
      act("Rotate secret", async () => {
        const rotated = await api("POST", `${path}/rotate-secret`);
        const until = rotated.endpoint.previous_secret_expires_at;
        await detail(view, id, ctx, secretBox("New signing secret", rotated.secret,
          `Deliveries are signed with both secrets until ${until ? new Date(until).toLocaleString() : "now"}; then with the new one only.`));
        ctx.flash("Secret rotated.");
      }),
      h("label", {}, "Test event", testType),
      act("Send test event", async () => {
        const sent = await api("POST", `${path}/test`, { event_type: testType.value });
        const a = sent.attempt;
        ctx.flash(`Test ${sent.delivery.event_type}: ${a.status_code ?? a.error_class ?? "no answer"} in ${a.latency_ms} ms.`, !!a.error_class);
      }),
      act("Deliveries", async () => ctx.go(`#/deliveries?endpoint_id=${e.id}`)),
      act("Delete", async () => {
        if (!confirm(`Delete the endpoint ${e.url}? Its deliveries stop.`)) return;
        await api("DELETE", path);
        ctx.flash("Endpoint deleted.");
        ctx.go("#/endpoints");
      }, { class: "danger" })),
    h("details", {}, h("summary", {}, "The endpoint as JSON"), json(e)));
}
