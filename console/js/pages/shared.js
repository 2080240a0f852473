// What several pages share: a paged list with a "Next page" button, and a value that may be
// refused for lack of a scope.

import { api, query, ApiProblem } from "../api.js";
import { h, fill, button } from "../dom.js";

/**
 * A list fetched page by page along `next_cursor`. `rowsOf(items)` renders a page's rows into
 * the returned element; `none` is shown when the first page is empty.
 */
export async function pagedList(path, params, render, none) {
  const box = h("div");
  let cursor = null;
  const more = h("div", { class: "actions" });
  async function load() {
    const page = await api("GET", path + query({ ...params, limit: 50, cursor }));
    if (!cursor && page.data.length === 0) {
      fill(box, none);
      fill(more);
      return;
    }
    box.append(render(page.data));
    cursor = page.next_cursor;
    fill(more, page.has_more ? button("Next page", load) : null);
  }
  await load();
  return h("div", {}, box, more);
}

/** The value of `request`, or a note saying the key lacks the scope (403) for it. */
export async function orScope(request, fallback = null) {
  try {
    return await request();
  } catch (e) {
    if (e instanceof ApiProblem && e.status === 403) return fallback;
    throw e;
  }
}

/** The filters after `?` in the hash (#/jobs?status=open). */
export function hashParams() {
  return new URLSearchParams(location.hash.split("?")[1] ?? "");
}

/** A status filter for the list at `#/${page}`: choosing one goes to `#/${page}?status=…`. */
export function statusFilter(page, statuses, ctx) {
  const current = hashParams().get("status") ?? "";
  const select = h("select", { id: `${page}-status`, name: "status" },
    ["", ...statuses].map((s) => h("option", { value: s, selected: s === current }, s || "any")));
  select.addEventListener("change", () => ctx.go(select.value ? `#/${page}?status=${select.value}` : `#/${page}`));
  return { status: current, filter: h("label", {}, "Status", select) };
}

/** A form's fields as an object of trimmed strings. */
export function values(form) {
  const out = {};
  for (const [k, v] of new FormData(form)) out[k] = typeof v === "string" ? v.trim() : v;
  return out;
}
