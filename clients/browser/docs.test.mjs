// The served API docs in a real browser (Debian's Chromium, driven by playwright-core), run by
// `cargo xtask browser` against a live server on a random port:
// - "Try it out" on GET /v1/jobs, authorized with a key, reaches the server that served the page;
// - the Webhooks section lists every event type.
// Environment: PUBLIC_API_URL, PUBLIC_API_KEY, SCREENSHOT_DIR; CHROMIUM (default /usr/bin/chromium).

import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const baseUrl = process.env.PUBLIC_API_URL;
const key = process.env.PUBLIC_API_KEY;
const shots = process.env.SCREENSHOT_DIR ?? ".";

test("Swagger UI tries GET /v1/jobs against the server that serves it, and lists the webhooks", async () => {
  assert.ok(baseUrl && key, "set PUBLIC_API_URL and PUBLIC_API_KEY");
  const created = await fetch(`${baseUrl}/v1/jobs`, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify({ title: "Job seen through Swagger UI" }),
  });
  assert.equal(created.status, 201);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    // This machine has no network beyond loopback: keep Chromium from calling home.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const outside = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(baseUrl) && !request.url().startsWith("data:")) outside.push(request.url());
    });
    await page.goto(`${baseUrl}/docs/`);
    await page.waitForSelector(".swagger-ui .information-container");

    await page.click("button.authorize");
    await page.fill(".auth-container input[type=text], .auth-container input[type=password]", key);
    await page.click(".auth-btn-wrapper button.authorize");
    await page.click(".auth-btn-wrapper button.btn-done");

    const operation = page.locator("#operations-Jobs-list_jobs");
    await operation.locator(".opblock-summary").click();
    await operation.locator("button.try-out__btn").click();
    await operation.locator("button.execute").click();
    const status = operation.locator(".live-responses-table .response .response-col_status").first();
    await status.waitFor();
    assert.equal((await status.innerText()).trim(), "200");
    const requestUrl = await operation.locator(".request-url pre").innerText();
    assert.ok(requestUrl.startsWith(`${baseUrl}/v1/jobs`), `the request went to ${requestUrl}`);
    const body = await operation.locator(".live-responses-table .response-col_description pre").first().innerText();
    assert.match(body, /Job seen through Swagger UI/);
    await page.screenshot({ path: `${shots}/docs-try-it-out.png`, fullPage: false });

    for (const event of ["interview.completed", "interview.failed", "application.status_changed", "webhook.test"]) {
      const listed = page.locator(".opblock-post .opblock-summary-path", { hasText: new RegExp(`^${event.replace(".", "\\.")}$`) });
      assert.equal(await listed.count(), 1, `the Webhooks section lists ${event} once`);
    }
    await page.getByText("webhook.test", { exact: true }).first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${shots}/docs-webhooks.png`, fullPage: false });
    assert.deepEqual(outside, [], "the page loads nothing from other origins");
  } finally {
    await browser.close();
  }
});
