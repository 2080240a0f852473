// Jobs: a list with a status filter and paging, a form to create one, and a job's page with its
// applications and a form to add a candidate.

import { api, seg } from "../api.js";
import { h, fill, table, empty, time, badge, link, kv, button, json } from "../dom.js";
import { pagedList, statusFilter, values } from "./shared.js";

export async function list(view, _id, ctx) {
  const { status, filter } = statusFilter("jobs", ["open", "closed"], ctx);
  const form = h("form", { class: "inline", "aria-label": "Create a job" },
    h("label", {}, "Title", h("input", { name: "title", required: true, maxlength: 200 })),
    h("label", {}, "External id (optional)", h("input", { name: "external_id", maxlength: 255 })),
    h("button", { type: "submit", class: "primary" }, "Create job"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = values(form);
    try {
      const job = await api("POST", "/v1/jobs", { title: v.title, external_id: v.external_id || undefined });
      ctx.flash(`Created job ${job.title}.`);
      ctx.go(`#/jobs/${job.id}`);
    } catch (e) { ctx.flash(e, true); }
  });
  const jobs = await pagedList("/v1/jobs", { status }, (rows) => table(["Title", "Status", "External id", "Updated"],
    rows.map((j) => [link(`#/jobs/${j.id}`, j.title), badge(j.status), j.external_id ?? "—", time(j.updated_at)])),
  empty("No jobs yet. Create one above, or POST /v1/jobs from your system."));
  fill(view, h("h1", {}, "Jobs"), form, filter, jobs);
}

export async function detail(view, id, ctx) {
  const job = await api("GET", `/v1/jobs/${seg(id)}`);
  const form = h("form", { class: "inline", "aria-label": "Add a candidate" },
    h("label", {}, "First name", h("input", { name: "first_name", required: true })),
    h("label", {}, "Last name", h("input", { name: "last_name", required: true })),
    h("label", {}, "Phone (E.164)", h("input", { name: "phone", placeholder: "+14155550123" })),
    h("label", {}, "Email", h("input", { name: "email", type: "email" })),
    h("button", { type: "submit", class: "primary" }, "Create application"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = values(form);
    const candidate = { first_name: v.first_name, last_name: v.last_name, phone: v.phone || undefined, email: v.email || undefined };
    try {
      const app = await api("POST", "/v1/applications", { job_id: job.id, candidate });
      ctx.flash("Application created.");
      ctx.go(`#/applications/${app.id}`);
    } catch (e) { ctx.flash(e, true); }
  });
  const apps = await pagedList("/v1/applications", { job_id: job.id }, (rows) => table(["Application", "Status", "Updated"],
    rows.map((a) => [link(`#/applications/${a.id}`, a.external_id ?? a.id), badge(a.status), time(a.updated_at)])),
  empty("No applications for this job yet. Add a candidate above."));
  fill(view,
    h("p", {}, link("#/jobs", "← Jobs")),
    h("h1", {}, job.title),
    kv([["Id", h("code", {}, job.id)], ["Status", badge(job.status)], ["External id", job.external_id],
      ["Interview", job.interview_type], ["Location", job.location], ["Created", time(job.created_at)],
      ["Updated", time(job.updated_at)]]),
    h("div", { class: "actions" }, job.status === "open" ? button("Close job", async () => {
      try { await api("POST", `/v1/jobs/${seg(id)}/close`); ctx.flash("Job closed."); ctx.refresh(); } catch (e) { ctx.flash(e, true); }
    }, { class: "danger" }) : null),
    h("h2", {}, "Applications"), apps,
    h("h2", {}, "Add a candidate"), form,
    h("details", {}, h("summary", {}, "The job as JSON"), json(job)));
}
