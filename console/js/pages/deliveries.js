// Deliveries: filter by endpoint, event type and status, updated live while the page is open;
// a delivery's page with every attempt (time, status, latency, error class, response excerpt)
// and a redeliver button.

import { api, query, seg } from "../api.js";
import { h, fill, table, empty, time, badge, link, kv, button, json } from "../dom.js";
import { EVENT_TYPES } from "./endpoints.js";
import { hashParams } from "./shared.js";

/** How often an open page asks again. */
const POLL_MS = 2000;

export async function list(view, _id, ctx) {
  const params = hashParams();
  const filters = { endpoint_id: params.get("endpoint_id") ?? "", event_type: params.get("event_type") ?? "", status: params.get("status") ?? "" };
  const endpoints = await api("GET", "/v1/webhook-endpoints?limit=100").catch(() => ({ data: [] }));
  const select = (name, label, options) => {
    const el = h("select", { id: `filter-${name}`, name },
      options.map(([value, text]) => h("option", { value, selected: value === filters[name] }, text)));
    el.addEventListener("change", () => {
      const next = { ...filters, [name]: el.value };
      ctx.go(`#/deliveries${query(next)}`);
    });
    return h("label", {}, label, el);
  };
  const form = h("div", { class: "inline" },
    select("endpoint_id", "Endpoint", [["", "any"], ...endpoints.data.map((e) => [e.id, e.url])]),
    select("event_type", "Event type", [["", "any"], ...EVENT_TYPES.map((t) => [t, t])]),
    select("status", "Status", [["", "any"], ["pending", "pending"], ["succeeded", "succeeded"], ["failed", "failed"]]));
  const body = h("div", { id: "deliveries", "aria-live": "polite" });
  const stamp = h("p", { class: "muted" });
  const urls = new Map(endpoints.data.map((e) => [e.id, e.url]));
  async function load() {
    const page = await api("GET", `/v1/webhook-deliveries${query({ ...filters, limit: 100 })}`);
    if (!ctx.current()) return;
    fill(body, page.data.length
      ? table(["Event", "Status", "Attempts", "Endpoint", "Next attempt", "Updated"], page.data.map((d) => [
        link(`#/deliveries/${d.id}`, d.event_type), badge(d.status), String(d.attempt_count),
        urls.get(d.endpoint_id) ?? d.endpoint_id, time(d.next_attempt_at), time(d.updated_at)]),
      page.has_more ? "The 100 most recent; narrow the filters to see others." : null)
      : empty("No deliveries match. They appear when an interview finishes, an application changes status, or you send a test event from an endpoint."));
    fill(stamp, `Updated live every ${POLL_MS / 1000} s; last at ${new Date().toLocaleTimeString()}.`);
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), POLL_MS);
  ctx.onLeave(() => clearInterval(timer));
  fill(view, h("h1", {}, "Deliveries"), form, stamp, body);
}

export async function detail(view, id, ctx) {
  const path = `/v1/webhook-deliveries/${seg(id)}`;
  const attemptsBox = h("div", { id: "attempts", "aria-live": "polite" });
  const head = h("div");
  async function load() {
    const { delivery: d, attempts, event } = await api("GET", path);
    if (!ctx.current()) return;
    fill(head, kv([["Id", h("code", {}, d.id)], ["Event", d.event_type], ["Event id (webhook-id)", h("code", {}, d.event_id)],
      ["Status", badge(d.status)], ["Endpoint", link(`#/endpoints/${d.endpoint_id}`, d.endpoint_id)],
      ["Attempts", String(d.attempt_count)], ["Next attempt", time(d.next_attempt_at)], ["Created", time(d.created_at)]]),
    h("details", {}, h("summary", {}, "Event body (the signed bytes, pretty-printed)"), json(event)));
    head.querySelector("pre")?.setAttribute("id", "event-body");
    fill(attemptsBox, attempts.length
      ? table(["#", "At", "Trigger", "Status", "Latency", "Error", "Response (excerpt)"], attempts.map((a, i) => [
        String(i + 1), time(a.attempted_at), a.trigger, a.status_code === null ? "—" : String(a.status_code),
        `${a.latency_ms} ms`, a.error_class ? h("span", { class: "bad" }, a.error_class, a.error ? `: ${a.error}` : "") : h("span", { class: "ok" }, "ok"),
        a.response_body ? h("code", {}, a.response_body.slice(0, 300)) : "—"]))
      : empty("No attempt yet: the first is on its way."));
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), POLL_MS);
  ctx.onLeave(() => clearInterval(timer));
  fill(view,
    h("p", {}, link("#/deliveries", "← Deliveries")),
    h("h1", {}, "Delivery"),
    head,
    h("div", { class: "actions" }, button("Redeliver", async () => {
      try {
        const sent = await api("POST", `${path}/redeliver`);
        const a = sent.attempt;
        ctx.flash(`Redelivered: ${a.status_code ?? a.error_class ?? "no answer"} in ${a.latency_ms} ms.`, !!a.error_class);
        await load();
      } catch (e) { ctx.flash(e, true); }
    }, { class: "primary" })),
    h("h2", {}, "Attempts"), attemptsBox);
}
