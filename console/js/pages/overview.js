// Overview: counts, recent deliveries, and endpoints that are failing (failed deliveries among
// the 100 most recent failures) or disabled.

import { api, query } from "../api.js";
import { h, fill, table, empty, time, badge, link } from "../dom.js";
import { orScope } from "./shared.js";

const count = (page) => (page ? `${page.data.length}${page.has_more ? "+" : ""}` : "no access");

export async function render(view) {
  const first = (path, params = {}) => orScope(() => api("GET", path + query({ limit: 100, ...params })));
  const [jobs, apps, endpoints, recent, failed] = await Promise.all([
    first("/v1/jobs", { status: "open" }),
    first("/v1/applications"),
    first("/v1/webhook-endpoints"),
    first("/v1/webhook-deliveries", { limit: 10 }),
    first("/v1/webhook-deliveries", { status: "failed" }),
  ]);
  const card = (label, value, hash) => h("a", { class: "card", href: hash }, h("div", { class: "n" }, value), label);
  // Disabled endpoints, and enabled ones whose recent deliveries failed.
  const failures = new Map();
  for (const d of failed?.data ?? []) failures.set(d.endpoint_id, (failures.get(d.endpoint_id) ?? 0) + 1);
  const unwell = (endpoints?.data ?? []).filter((e) => !e.enabled || failures.has(e.id));
  const why = (e) => !e.enabled ? `disabled: ${e.disabled_reason ?? "by hand"}`
    : `${failures.get(e.id)}${failed.has_more ? "+" : ""} failed deliveries`;
  fill(view,
    h("h1", {}, "Overview"),
    h("div", { class: "cards" },
      card("open jobs", count(jobs), "#/jobs"),
      card("applications", count(apps), "#/applications"),
      card("webhook endpoints", count(endpoints), "#/endpoints"),
      card("failed deliveries", count(failed), "#/deliveries")),
    h("h2", {}, "Endpoints that need attention"),
    unwell.length
      ? table(["Endpoint", "Why"], unwell.map((e) => [link(`#/endpoints/${e.id}`, e.url), why(e)]))
      : empty(endpoints?.data.length ? "Every endpoint is enabled, and none has failed deliveries." :
        ["No endpoints yet. ", link("#/endpoints", "Create one"), ", or run ",
          h("code", {}, "webhook-sim receive"), " to get a local receiver."]),
    h("h2", {}, "Recent deliveries"),
    recent?.data.length
      ? table(["Event", "Status", "Attempts", "Updated"], recent.data.map((d) => [
        link(`#/deliveries/${d.id}`, d.event_type), badge(d.status), String(d.attempt_count), time(d.updated_at)]))
      : empty("No deliveries yet. They appear when an interview finishes or you send a test event from an endpoint."));
}
