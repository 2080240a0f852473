// Applications: a list with a status filter; an application's page with its status timeline,
// its results (score, grades and reasoning, transcript, resume review), cancel, and the
// sandbox's "complete now".

import { api, seg, ApiProblem } from "../api.js";
import { h, fill, table, empty, time, badge, link, kv, button, json } from "../dom.js";
import { pagedList, statusFilter, values } from "./shared.js";

const STATUSES = ["pending", "calling", "in_progress", "completed", "no_answer", "voicemail", "failed", "cancelled"];
const OUTCOMES = ["completed", "no_answer", "voicemail", "invalid_number", "hung_up", "not_interested"];
const FINAL = ["completed", "failed", "cancelled"];

export async function list(view, _id, ctx) {
  const { status, filter } = statusFilter("applications", STATUSES, ctx);
  const apps = await pagedList("/v1/applications", { status }, (rows) => table(["Application", "Job", "Status", "Updated"],
    rows.map((a) => [link(`#/applications/${a.id}`, a.external_id ?? a.id), link(`#/jobs/${a.job_id}`, a.job_external_id ?? a.job_id),
      badge(a.status), time(a.updated_at)])),
  empty("No applications yet. Open a job and add a candidate, or POST /v1/applications."));
  fill(view, h("h1", {}, "Applications"), filter, apps);
}

export async function detail(view, id, ctx) {
  const app = await api("GET", `/v1/applications/${seg(id)}`);
  const [candidate, results] = await Promise.all([
    api("GET", `/v1/candidates/${seg(app.candidate_id)}`).catch(() => null),
    FINAL.includes(app.status) && app.status !== "cancelled"
      ? api("GET", `/v1/applications/${seg(id)}/results`).catch((e) => (e instanceof ApiProblem ? null : Promise.reject(e)))
      : null,
  ]);
  const name = candidate ? `${candidate.first_name} ${candidate.last_name}` : app.candidate_id;
  fill(view,
    h("p", {}, link("#/applications", "← Applications")),
    h("h1", {}, name),
    kv([["Id", h("code", {}, app.id)], ["Status", badge(app.status)], ["Job", link(`#/jobs/${app.job_id}`, app.job_external_id ?? app.job_id)],
      ["External id", app.external_id], ["Phone", candidate?.phone], ["Email", candidate?.email], ["Created", time(app.created_at)]]),
    actions(app, ctx),
    h("h2", {}, "Timeline"),
    h("ol", { class: "timeline" }, (app.status_history ?? []).map((s) =>
      h("li", {}, badge(s.status), " ", time(s.at), s.reason ? h("span", { class: "muted" }, ` — ${s.reason}`) : null))),
    h("h2", {}, "Results"),
    results ? resultsView(results) : empty(FINAL.includes(app.status) ? "No results: the interview was cancelled."
      : "No results yet. They arrive when the interview finishes; in the sandbox, complete it now above."));
}

function actions(app, ctx) {
  if (FINAL.includes(app.status)) return null;
  const outcome = h("select", { name: "outcome", id: "outcome" }, OUTCOMES.map((o) => h("option", { value: o }, o)));
  const score = h("input", { name: "score", id: "score", type: "number", min: 0, max: 100, placeholder: "drawn" });
  const form = h("form", { class: "inline", "aria-label": "Complete the interview now (sandbox)" },
    h("label", {}, "Outcome", outcome), h("label", {}, "Score (0–100)", score),
    h("button", { type: "submit", class: "primary" }, "Complete now"));
  outcome.addEventListener("change", () => { score.disabled = outcome.value !== "completed"; });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = values(form);
    const body = { outcome: v.outcome };
    if (v.outcome === "completed" && v.score !== "" && v.score !== undefined) body.score = Number(v.score);
    try {
      await api("POST", `/v1/sandbox/applications/${seg(app.id)}/complete`, body);
      ctx.flash(`Interview ended: ${v.outcome}.`);
      ctx.refresh();
    } catch (e) { ctx.flash(e, true); }
  });
  return h("div", {},
    h("h2", {}, "Sandbox"), form,
    h("div", { class: "actions" }, button("Cancel application", async () => {
      try { await api("POST", `/v1/applications/${seg(app.id)}/cancel`); ctx.flash("Application cancelled."); ctx.refresh(); }
      catch (e) { ctx.flash(e, true); }
    }, { class: "danger" })));
}

function resultsView(results) {
  const r = results.result ?? {};
  if (r.outcome === "failed") {
    return h("div", {}, kv([["Outcome", badge("failed")], ["Reason", r.reason], ["Detail", r.detail],
      ["Call attempts", String(r.call?.attempts ?? "—")]]), h("details", {}, h("summary", {}, "As JSON"), json(results)));
  }
  return h("div", { id: "results" },
    kv([["Score", h("strong", { id: "score-value" }, String(r.score ?? "—"))], ["Summary", r.summary],
      ["Completion", r.completion_rate === undefined ? null : `${Math.round(r.completion_rate * 100)} %`],
      ["Call", r.call ? `${r.call.duration_seconds} s, ${r.call.attempts} attempt(s)` : null]]),
    h("h2", {}, "Question grades"),
    table(["Question", "Weight", "Grade", "Reasoning"], (r.question_grades ?? []).map((g) =>
      [g.question, String(g.weight), String(g.grade), g.reasoning])),
    h("h2", {}, "Resume review"),
    r.resume_review ? h("div", {},
      kv([["Stars", r.resume_review.star_rating === null ? "—" : "★".repeat(r.resume_review.star_rating)],
        ["Meets all required", r.resume_review.meets_all_required === null ? "—" : String(r.resume_review.meets_all_required)],
        ["Summary", r.resume_review.summary]]),
      (r.resume_review.requirements ?? []).length
        ? table(["Requirement", "Importance", "Match", "Evidence"], r.resume_review.requirements.map((m) => [m.requirement, m.importance, m.status, m.evidence ?? "—"]))
        : null) : empty("No resume review."),
    h("h2", {}, "Transcript"),
    (r.transcript ?? []).length
      ? table(["At", "Speaker", "Said"], r.transcript.map((t) => [`${t.start_seconds.toFixed(1)} s`, t.speaker, t.text]))
      : empty("No transcript."),
    h("details", {}, h("summary", {}, "The results as JSON"), json(results)));
}
