// The console's shell: sign-in, the navigation, and a hash router (#/jobs/job_…) that renders
// one page at a time into <main>. Pages use only the public /v1 API with the signed-in key.

import { api, currentKey, signIn, signOut, whenUnauthorized, ApiProblem } from "./api.js";
import { h, fill } from "./dom.js";
import * as overview from "./pages/overview.js";
import * as jobs from "./pages/jobs.js";
import * as applications from "./pages/applications.js";
import * as endpoints from "./pages/endpoints.js";
import * as deliveries from "./pages/deliveries.js";
import * as catalog from "./pages/catalog.js";
import * as keys from "./pages/keys.js";

const ROUTES = {
  overview: [overview.render, overview.render],
  jobs: [jobs.list, jobs.detail],
  applications: [applications.list, applications.detail],
  endpoints: [endpoints.list, endpoints.detail],
  deliveries: [deliveries.list, deliveries.detail],
  catalog: [catalog.render, catalog.render],
  keys: [keys.render, keys.render],
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOutButton = document.getElementById("sign-out");
const flashBox = document.getElementById("flash");
/** What the current page asked to run when it is left (a poll to stop). */
let leave = null;
/** Which render is current, so a slow page that finishes late does not overwrite a newer one. */
let generation = 0;

/** A message under the header: errors in red; a problem names its fields. */
export function flash(message, isError = false) {
  // A 401 has already signed the page out, with its own message.
  if (message instanceof ApiProblem && message.status === 401) return;
  flashBox.className = isError ? "error" : "";
  flashBox.textContent = message instanceof ApiProblem ? message.describe() : String(message ?? "");
}

function signInPage(reason) {
  nav.hidden = true;
  signOutButton.hidden = true;
  const input = h("input", { id: "key", name: "key", type: "password", autocomplete: "off", required: true,
    placeholder: "tenzo_pk_…", "aria-describedby": "key-help" });
  const form = h("form", { class: "stack", "aria-labelledby": "signin-title" },
    h("label", { for: "key" }, "API key", input),
    h("p", { id: "key-help", class: "muted" },
      "The key stays in this tab only (sessionStorage) and is sent only to this server. ",
      "Start the server with ", h("code", {}, "cargo run --release -- serve"), " and use the key it prints."),
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    signIn(input.value.trim());
    try {
      await api("GET", "/v1/integration");
    } catch (e) {
      // 403: a valid key without jobs:read still signs in; its pages show what it may see.
      if (!(e instanceof ApiProblem) || e.status !== 403) {
        signOut();
        flash(e.status === 401 ? "That key was not accepted: it is unknown, revoked or expired." : e, true);
        return;
      }
    }
    flash("");
    location.hash = "#/overview";
    route();
  });
  fill(main, h("h1", { id: "signin-title" }, "Sign in"), form);
  if (reason) flash(reason, true);
  input.focus();
}

whenUnauthorized((problem) => {
  signOut();
  generation++;
  signInPage(`Signed out: ${problem.message} Sign in with another key.`);
});

signOutButton.addEventListener("click", () => {
  signOut();
  flash("Signed out.");
  location.hash = "";
  signInPage();
});

async function route() {
  if (leave) { leave(); leave = null; }
  const mine = ++generation;
  if (!currentKey()) return signInPage();
  nav.hidden = false;
  signOutButton.hidden = false;
  // #/deliveries/dlv_…?status=failed: the page, an id, and filters the page reads itself.
  const [name = "overview", id] = location.hash.replace(/^#\/?/, "").split("?")[0].split("/").map(decodeURIComponent);
  const pages = ROUTES[name] ?? ROUTES.overview;
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const view = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  fill(main, view);
  const ctx = {
    flash,
    go: (hash) => { location.hash = hash; },
    refresh: () => route(),
    onLeave: (fn) => { if (mine === generation) leave = fn; else fn(); },
    current: () => mine === generation,
  };
  try {
    await (id ? pages[1] : pages[0])(view, id, ctx);
  } catch (e) {
    if (mine !== generation || (e instanceof ApiProblem && e.status === 401)) return;
    fill(view, h("h1", {}, "Something went wrong"), h("p", { class: "bad" }, e instanceof ApiProblem ? e.describe() : String(e)));
  }
  view.removeAttribute("aria-busy");
  if (mine === generation) document.title = `${main.querySelector("h1")?.textContent ?? "Console"} · Public API console`;
}

window.addEventListener("hashchange", () => { flash(""); route(); main.focus({ preventScroll: true }); });
route();
