// The console: a client of seqhook's public API, signed in with an API key kept in this
// tab's sessionStorage and sent as a bearer header. Every view shows what that key may see.
// The pages, and the router that shows one at a time.

import {
  $, ApiError, KEY, PAGE, actionButton, actionForm, api, failure, field, h, json, list,
  pagedTable, show, when,
} from "./dom.js";
import { overview } from "./overview.js";

/** Aborted when the user leaves the page, so its streams end with it. */
let leaving = new AbortController();

/**
 * Follows an identity's SSE stream from its head, calling `onEvent` with each envelope.
 * `EventSource` cannot send a bearer header, so the stream is read with `fetch`.
 */
async function tail(handle, onEvent, signal) {
  const response = await fetch(`/v1/identities/${encodeURIComponent(handle)}/events/stream`, {
    headers: { Authorization: `Bearer ${sessionStorage.getItem(KEY) ?? ""}` },
    signal,
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new ApiError(body?.error?.message ?? `${response.status}`, response.status);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart()).join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
}

/** A delivery's attempts, oldest first: time, status, duration, error, the answer's start. */
function attempts(delivery) {
  return h("ol", { class: "attempts" }, delivery.attempts.map((attempt) =>
    h("li", {},
      h("span", {}, when(attempt.at)), " · ",
      h("strong", { class: attempt.statusCode >= 200 && attempt.statusCode < 300 ? "ok" : "error" },
        attempt.statusCode ?? "no answer"),
      ` · ${attempt.durationMs} ms`,
      attempt.error ? h("div", { class: "error" }, attempt.error) : null,
      attempt.responseBody ? h("pre", {}, attempt.responseBody) : null)));
}

async function deliveryTable(path) {
  return pagedTable(path, ["Delivery", "Event", "Status", "Attempts", ""], (delivery) => {
    const row = h("tr", { "data-delivery": delivery.id },
      h("td", {}, delivery.id),
      h("td", {}, `${delivery.identity} #${delivery.seq}`),
      h("td", { class: "status" }, delivery.status),
      h("td", {}, attempts(delivery)),
      h("td", {}, actionButton("Retry now", async () => {
        await api(`/v1/deliveries/${delivery.id}/retry`, { method: "POST", body: {} });
        return h("span", { class: "ok" }, "Queued.");
      })));
    return row;
  });
}

const views = {
  overview,

  async identities() {
    const columns = ["Handle", "Head seq", "Last event", "Created"];
    const row = (identity) =>
      h("tr", {},
        h("td", {}, h("a", { href: `#/identities/${encodeURIComponent(identity.handle)}` }, identity.handle)),
        h("td", {}, identity.headSeq),
        h("td", {}, when(identity.lastEventAt)),
        h("td", {}, when(identity.createdAt)));
    const results = h("div", { id: "identities" }, await pagedTable("/v1/identities", columns, row));
    const search = actionForm({ role: "search", "aria-label": "Search identities" }, [
      field("Handle starts with", h("input", { name: "prefix", type: "search" })),
      h("button", { type: "submit", class: "quiet" }, "Search"),
    ], async (data) => {
      const prefix = data.get("prefix").trim();
      const path = prefix ? `/v1/identities?prefix=${encodeURIComponent(prefix)}` : "/v1/identities";
      results.replaceChildren(await pagedTable(path, columns, row));
    });
    return [h("h1", {}, "Identities"), search, results];
  },

  async identity(handle) {
    const events = h("div");
    const type = h("input", { name: "types", placeholder: "email.replied,email.bounced" });
    const older = h("button", { type: "button", class: "quiet" }, "Older");
    const identity = await api(`/v1/identities/${encodeURIComponent(handle)}`);
    let before = identity.headSeq;
    async function load(reset) {
      if (reset) { before = identity.headSeq; events.replaceChildren(); }
      const since = Math.max(0, before - PAGE);
      const types = type.value.trim() ? `&types=${encodeURIComponent(type.value.trim())}` : "";
      const page = await api(`/v1/identities/${encodeURIComponent(handle)}/events?since=${since}&limit=${PAGE}${types}`);
      const shown = page.events.filter((event) => event.seq <= before).reverse();
      events.append(...shown.map((event) =>
        h("details", {},
          h("summary", {}, `#${event.seq} ${event.type} · ${when(event.createdAt)}`),
          h("pre", {}, JSON.stringify(event, null, 2)))));
      before = since;
      older.hidden = since === 0;
    }
    const filter = h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); load(true).catch((error) => events.replaceChildren(failure(error))); } },
      h("label", {}, "Types ", type), h("button", { type: "submit" }, "Filter"));
    older.addEventListener("click", () => load(false).catch((error) => events.append(failure(error))));
    await load(true);
    const live = h("div", { id: "live" });
    const liveStatus = h("span", { class: "muted", role: "status" }, "Live tail: following new events.");
    tail(handle, (event) => {
      live.prepend(h("details", { open: true },
        h("summary", {}, `#${event.seq} ${event.type} · ${when(event.createdAt)} (live)`),
        json(event)));
    }, leaving.signal).then(
      () => liveStatus.replaceChildren("Live tail ended; reload to follow again."),
      (error) => { if (error.name !== "AbortError") liveStatus.replaceChildren(failure(error)); });
    return [h("h1", {}, handle), h("p", { class: "muted" }, `Head seq ${identity.headSeq}`),
      h("h2", {}, "Live"), liveStatus, live, h("h2", {}, "Log"), filter, events, older];
  },

  async webhooks() {
    const table = await pagedTable("/v1/webhooks", ["URL", "Events", "Status"], (webhook) =>
      h("tr", {},
        h("td", {}, h("a", { href: `#/webhooks/${webhook.id}` }, webhook.url)),
        h("td", {}, webhook.events ? webhook.events.join(", ") : "all"),
        h("td", {}, webhook.active ? "active" : `paused: ${webhook.disabledReason ?? ""}`)));
    const form = actionForm({ id: "new-webhook", "aria-label": "New webhook" }, [
      field("URL", h("input", { name: "url", type: "url", required: true, size: 40 })),
      field("Events", h("input", { name: "events", placeholder: "all, or email.*,email.replied" })),
      field("Identities", h("input", { name: "identities", placeholder: "all, or handles" })),
      field("Rate limit", h("input", { name: "rateLimit", type: "number", min: 1 })),
      h("label", {}, h("input", { name: "ordered", type: "checkbox" }), " Ordered"),
      h("button", { type: "submit" }, "Create webhook"),
    ], async (data) => {
      const body = { url: data.get("url"), ordered: data.get("ordered") === "on" };
      if (list(data.get("events")).length) body.events = list(data.get("events"));
      if (list(data.get("identities")).length) body.identities = list(data.get("identities"));
      if (data.get("rateLimit")) body.rateLimit = Number(data.get("rateLimit"));
      const created = await api("/v1/webhooks", { method: "POST", body });
      return h("p", { class: "ok" }, "Created ", h("a", { href: `#/webhooks/${created.id}` }, created.id),
        ". Its secret: ", h("code", {}, created.secret));
    });
    return [h("h1", {}, "Webhooks"), form, table];
  },

  async webhook(id) {
    const path = `/v1/webhooks/${encodeURIComponent(id)}`;
    const webhook = await api(path);
    const edit = actionForm({ id: "edit-webhook", "aria-label": "Edit webhook" }, [
      field("URL", h("input", { name: "url", type: "url", required: true, size: 40, value: webhook.url })),
      field("Events", h("input", { name: "events", value: (webhook.events ?? []).join(",") })),
      field("Identities", h("input", { name: "identities", value: (webhook.identities ?? []).join(",") })),
      field("Rate limit", h("input", { name: "rateLimit", type: "number", min: 1, value: webhook.rateLimit ?? "" })),
      h("label", {}, h("input", { name: "ordered", type: "checkbox", checked: webhook.ordered }), " Ordered"),
      h("button", { type: "submit" }, "Save"),
    ], async (data) => {
      const events = list(data.get("events"));
      const identities = list(data.get("identities"));
      await api(path, { method: "PATCH", body: {
        url: data.get("url"), ordered: data.get("ordered") === "on",
        events: events.length ? events : null, identities: identities.length ? identities : null,
        rateLimit: data.get("rateLimit") ? Number(data.get("rateLimit")) : null,
      } });
      return h("span", { class: "ok" }, "Saved.");
    });
    const state = webhook.active
      ? h("p", { class: "ok" }, "Active")
      : h("p", { class: "error" }, `Paused: ${webhook.disabledReason ?? ""}`);
    const actions = h("div", { class: "toolbar" },
      actionButton(webhook.active ? "Pause" : "Resume", async () => {
        await api(path, { method: "PATCH", body: { active: !webhook.active } });
        await route();
      }),
      actionButton("Reveal secret", async () => h("code", {}, (await api(`${path}/secret`)).key)),
      actionButton("Rotate secret", async () => {
        const rotated = await api(`${path}/secrets/rotate`, { method: "POST", body: {} });
        return h("span", {}, "New secret ", h("code", {}, rotated.key), " (the old one signs for a day)");
      }),
      actionButton("Ping", async () => json(await api(`${path}/ping`, { method: "POST", body: {} }))));
    const replay = actionForm({ "aria-label": "Replay" }, [
      field("Replay identity", h("input", { name: "identity", required: true })),
      field("after seq", h("input", { name: "since", type: "number", min: 0, value: 0 })),
      h("button", { type: "submit", class: "quiet" }, "Replay"),
    ], async (data) => {
      const answer = await api(`${path}/replay`, { method: "POST", body: { identity: data.get("identity"), since: Number(data.get("since")) } });
      return h("span", { class: "ok" }, `${answer.enqueued} deliveries enqueued.`);
    });
    const deliveries = h("div", { id: "deliveries" });
    const filter = actionForm({ "aria-label": "Filter deliveries" }, [
      field("Status", h("select", { name: "status" }, ["", "pending", "succeeded", "failed"].map((status) => h("option", { value: status }, status || "any")))),
      field("Identity", h("input", { name: "identity" })),
      h("button", { type: "submit", class: "quiet" }, "Show"),
    ], async (data) => {
      const query = new URLSearchParams();
      if (data.get("status")) query.set("status", data.get("status"));
      if (data.get("identity").trim()) query.set("identity", data.get("identity").trim());
      deliveries.replaceChildren(await deliveryTable(`${path}/deliveries?${query}`));
    });
    deliveries.replaceChildren(await deliveryTable(`${path}/deliveries`));
    return [h("h1", {}, webhook.url), state, actions, h("h2", {}, "Settings"), edit, replay,
      h("h2", {}, "Deliveries"), filter, deliveries];
  },

  async "event-types"() {
    const types = h("div");
    const listTypes = async () => types.replaceChildren(await pagedTable("/v1/event-types", ["Type", "Description"], (type) =>
      h("tr", {},
        h("td", {}, type.name),
        h("td", {}, h("details", {}, h("summary", {}, type.description || "—"), json(type.schema))))));
    const schema = h("textarea", { name: "schema", rows: 8, cols: 60, spellcheck: "false" },
      '{\n  "type": "object",\n  "required": ["score"],\n  "properties": { "score": { "type": "integer" } }\n}');
    const verdict = h("p", { class: "muted", role: "status", id: "schema-verdict" });
    const submit = h("button", { type: "submit" }, "Save type");
    // Invalid JSON is reported as it is typed, before anything is sent.
    const check = () => {
      try {
        JSON.parse(schema.value);
        verdict.className = "muted";
        verdict.textContent = "Valid JSON.";
        submit.disabled = false;
      } catch (error) {
        verdict.className = "error";
        verdict.textContent = `Invalid JSON: ${error.message}`;
        submit.disabled = true;
      }
    };
    schema.addEventListener("input", check);
    check();
    const form = actionForm({ id: "new-type", "aria-label": "New event type" }, [
      field("Type", h("input", { name: "name", required: true, placeholder: "lead.scored" })),
      field("Description", h("input", { name: "description", size: 40 })),
      h("label", { class: "block" }, "JSON Schema", schema),
      verdict,
      submit,
    ], async (data) => {
      await api(`/v1/event-types/${encodeURIComponent(data.get("name").trim())}`, {
        method: "PUT",
        body: { description: data.get("description"), schema: JSON.parse(data.get("schema")) },
      });
      await listTypes();
      return h("span", { class: "ok" }, "Saved.");
    });
    await listTypes();
    return [h("h1", {}, "Event types"), form, types];
  },

  async "api-keys"() {
    const scopes = ["events:read", "events:write", "webhooks", "admin"];
    const keys = h("div");
    const listKeys = async () => keys.replaceChildren(await keyTable());
    const form = actionForm({ id: "new-key", "aria-label": "New API key" }, [
      field("Name", h("input", { name: "name" })),
      scopes.map((scope) => h("label", {}, h("input", { type: "checkbox", name: "scopes", value: scope }), ` ${scope}`)),
      field("Bound to identity", h("input", { name: "identity", placeholder: "any" })),
      h("button", { type: "submit" }, "Create key"),
    ], async (data) => {
      const body = { scopes: data.getAll("scopes") };
      if (data.get("name").trim()) body.name = data.get("name").trim();
      if (data.get("identity").trim()) body.identity = data.get("identity").trim();
      const created = await api("/v1/api-keys", { method: "POST", body });
      await listKeys();
      const copy = h("button", { type: "button", class: "quiet" }, "Copy");
      copy.addEventListener("click", async () => {
        await navigator.clipboard.writeText(created.key).then(() => { copy.textContent = "Copied"; },
          () => { copy.textContent = "Select and copy it"; });
      });
      return h("p", { class: "ok" }, "Created. The key is shown this once: ",
        h("code", { id: "new-key-secret" }, created.key), " ", copy);
    });
    const keyTable = () => pagedTable("/v1/api-keys", ["Name", "Scopes", "Identity", "Created", ""], (key) =>
      h("tr", { "data-key": key.id },
        h("td", {}, key.name ?? key.id),
        h("td", {}, key.scopes.join(", ")),
        h("td", {}, key.identity ?? "any"),
        h("td", {}, when(key.createdAt)),
        h("td", {}, actionButton("Revoke", async () => {
          await api(`/v1/api-keys/${key.id}`, { method: "DELETE" });
          await listKeys();
        }))));
    await listKeys();
    return [h("h1", {}, "API keys"), form, keys];
  },
};
/** Pages asked for so far; only the last one asked for is shown. */
let routes = 0;

async function route() {
  leaving.abort();
  leaving = new AbortController();
  const signedIn = sessionStorage.getItem(KEY) !== null;
  $("#sign-in").hidden = signedIn;
  $("#nav").hidden = !signedIn;
  if (!signedIn) { show(); return; }
  const [name = "overview", argument] = location.hash.replace(/^#\//, "").split("/");
  const view = argument !== undefined
    ? { identities: views.identity, webhooks: views.webhook }[name]
    : views[name];
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${name}`);
    if (link.hasAttribute("aria-current")) link.setAttribute("aria-current", "page");
  }
  if (!view) { show(h("p", { class: "error" }, "No such page.")); return; }
  show(h("p", { class: "muted" }, "Loading…"));
  // A page still loading when the user moved on must not replace the one they went to.
  const turn = ++routes;
  let shown;
  try {
    shown = await view(argument === undefined ? undefined : decodeURIComponent(argument));
  } catch (error) {
    shown = [failure(error)];
  }
  if (turn === routes) show(...shown);
}

$("#sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = new FormData(event.target).get("apiKey").trim();
  sessionStorage.setItem(KEY, key);
  try {
    // Any answer but 401 proves the key: a key without `events:read` is still one.
    await api("/v1/identities?limit=1").catch((error) => {
      if (error.status !== 403) throw error;
    });
    $("#sign-in-error").textContent = "";
    event.target.reset();
    if (!location.hash) location.hash = "#/overview";
    await route();
  } catch (error) {
    sessionStorage.removeItem(KEY);
    $("#sign-in-error").textContent = error.message;
  }
});

$("#sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  route();
});

window.addEventListener("hashchange", route);
route();
