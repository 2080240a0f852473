// The README's loop through a client generated from spec/openapi.json with openapi-typescript and
// openapi-fetch, run by `cargo xtask clients` against a live server. Compiled with `tsc --strict`:
// no casts and no `any`, so every field read below is checked against the generated types.
//
// Environment: PUBLIC_API_URL, PUBLIC_API_KEY.

import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import assert from "node:assert/strict";
import createClient from "openapi-fetch";
import type { components, paths, webhooks } from "./schema.js";

type Schemas = components["schemas"];
type Payload<E extends keyof webhooks> = NonNullable<webhooks[E]["post"]["requestBody"]>["content"]["application/json"];

const baseUrl = process.env.PUBLIC_API_URL ?? "";
const key = process.env.PUBLIC_API_KEY ?? "";
assert.ok(baseUrl && key, "set PUBLIC_API_URL and PUBLIC_API_KEY");

const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });

/** The data of a 2xx answer, or a failed assertion that shows the problem. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  assert.ok(result.data !== undefined, `${what}: HTTP ${result.response.status} ${JSON.stringify(result.error)}`);
  return result.data;
}

/** A receiver on 127.0.0.1 that answers 204 and keeps every body it gets. */
async function receiver(): Promise<{ url: string; bodies: unknown[]; close: () => void }> {
  const bodies: unknown[] = [];
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let text = "";
      req.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      req.on("end", () => resolve(text));
    });
  const server = createServer(async (req, res) => {
    const parsed: unknown = JSON.parse(await read(req));
    bodies.push(parsed);
    res.statusCode = 204;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address: AddressInfo | string | null = server.address();
  assert.ok(address !== null && typeof address === "object");
  return { url: `http://127.0.0.1:${address.port}/hooks`, bodies, close: () => server.close() };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** Narrows a received body to one event's generated type, by its `type` and envelope. */
function isEvent<E extends keyof webhooks>(value: unknown, type: E): value is Payload<E> {
  return isObject(value) && value.type === type && typeof value.id === "string" && isObject(value.data);
}

async function waitFor<T>(what: string, find: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  const hooks = await receiver();
  try {
    // A webhook endpoint for every event type, a test event, and its delivery in the log.
    const created = ok(await api.POST("/v1/webhook-endpoints", { body: { url: hooks.url, description: "TypeScript round trip" } }), "create endpoint");
    const endpoint: Schemas["WebhookEndpoint"] = created.endpoint;
    assert.ok(created.secret.startsWith("whsec_"));
    const tested = ok(await api.POST("/v1/webhook-endpoints/{endpoint_id}/test", { params: { path: { endpoint_id: endpoint.id } } }), "test");
    assert.equal(tested.attempt.status_code, 204);
    const deliveries = ok(await api.GET("/v1/webhook-deliveries", { params: { query: { endpoint_id: endpoint.id, event_type: "webhook.test" } } }), "list deliveries");
    assert.equal(deliveries.data.length, 1);
    assert.equal(deliveries.data[0]?.id, tested.delivery.id);

    // The README loop: a job, an application with a resume, read back, completed, results.
    const job = ok(await api.POST("/v1/jobs", {
      body: {
        external_id: "TS-REQ-1",
        title: "Delivery Driver",
        description: "Deliver parcels across the Bristol area.",
        requirements: [{ text: "Full UK driving licence", importance: "required" }],
        screening_questions: [{ question: "Can you work weekends?", weight: 2 }],
        metadata: { team: "logistics" },
      },
    }), "create job");
    const application = ok(await api.POST("/v1/applications", {
      body: {
        job_external_id: "TS-REQ-1",
        external_id: "TS-APP-1",
        candidate: { first_name: "Ada", last_name: "Lovelace", phone: "+14155550123", timezone: "Europe/London" },
        resume: { text: "Ten years of van deliveries; clean licence." },
      },
      headers: { "Idempotency-Key": "ts-roundtrip-app-1" },
    }), "create application");
    assert.equal(application.job_id, job.id);
    const read = ok(await api.GET("/v1/applications/{application_id}", { params: { path: { application_id: application.id } } }), "get application");
    assert.equal(read.external_id, "TS-APP-1");
    const resume = ok(await api.GET("/v1/candidates/{candidate_id}/resume", { params: { path: { candidate_id: application.candidate_id } } }), "get resume");
    assert.equal(resume.content.kind, "text");
    if (resume.content.kind === "text") assert.match(resume.content.text, /van deliveries/);
    ok(await api.POST("/v1/sandbox/applications/{application_id}/complete", {
      params: { path: { application_id: application.id } },
      body: { outcome: "completed", score: 87 },
    }), "complete");
    const results = ok(await api.GET("/v1/applications/{application_id}/results", { params: { path: { application_id: application.id } } }), "results");
    assert.equal(results.status, "completed");
    const result: Schemas["CallResults"] = results.result;
    assert.equal(result.outcome, "completed");
    if (result.outcome === "completed") {
      assert.equal(result.score, 87);
      assert.ok(result.question_grades.length > 0 && result.transcript.length > 0);
    }

    // A second application that fails, for interview.failed.
    const failing = ok(await api.POST("/v1/applications", {
      body: { job_id: job.id, candidate: { first_name: "Bob", last_name: "Smith", phone: "+14155550124" } },
    }), "create second application");
    ok(await api.POST("/v1/sandbox/applications/{application_id}/complete", {
      params: { path: { application_id: failing.id } },
      body: { outcome: "invalid_number" },
    }), "fail");

    // Cursor paging over more than one page.
    for (let i = 0; i < 4; i++) ok(await api.POST("/v1/jobs", { body: { title: `Paged job ${i}` } }), "create paged job");
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = ok(await api.GET("/v1/jobs", { params: { query: { limit: 2, cursor } } }), "list jobs");
      seen.push(...page.data.map((j) => j.id));
      cursor = page.next_cursor ?? undefined;
      pages++;
    } while (cursor !== undefined);
    assert.ok(pages > 1, "more than one page");
    assert.ok(seen.length >= 5 && new Set(seen).size === seen.length, "every job once");

    // One payload of each event type, typed with the generated `webhooks` types.
    const completed = await waitFor("interview.completed", () => hooks.bodies.find((b) => isEvent(b, "interview.completed")));
    const failed = await waitFor("interview.failed", () => hooks.bodies.find((b) => isEvent(b, "interview.failed")));
    const changed = await waitFor("application.status_changed", () => hooks.bodies.find((b) => isEvent(b, "application.status_changed")));
    const test = await waitFor("webhook.test", () => hooks.bodies.find((b) => isEvent(b, "webhook.test")));
    if (isEvent(completed, "interview.completed")) assert.equal(completed.data.results.score, 87);
    if (isEvent(failed, "interview.failed")) assert.equal(failed.data.failure.reason, "invalid_number");
    if (isEvent(changed, "application.status_changed")) assert.ok(changed.data.status.length > 0);
    if (isEvent(test, "webhook.test")) assert.equal(test.type, "webhook.test");
    console.log(`typescript client: ok (${seen.length} jobs over ${pages} pages, ${hooks.bodies.length} webhooks typed)`);
  } finally {
    hooks.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
