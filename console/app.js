// The console: a client of seqhook's public API, signed in with an API key kept in this
// tab's sessionStorage and sent as a bearer header. Every view shows what that key may see.
// The DOM is built with textContent only: nothing the API returns is parsed as HTML.

const KEY = "seqhook.apiKey";
const PAGE = 50;

const $ = (selector) => document.querySelector(selector);

/** An element with attributes and children (strings become text). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) element.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) {
      element.append(child instanceof Node ? child : String(child));
    }
  }
  return element;
}

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Calls the API with the signed-in key; an error answer throws its `message`. */
async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) ?? ""}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method ?? "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (response.status === 204) return null;
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) {
    throw new ApiError(body?.error?.message ?? `${response.status} ${response.statusText}`, response.status);
  }
  return body;
}

function show(...children) {
  $("#view").replaceChildren(...children);
}

function failure(error) {
  return h("p", { class: "error", role: "alert" }, error.message);
}

function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : "—";
}

/** A paged list: fetches `path` with `after`, renders rows, offers the next page. */
async function pagedTable(path, columns, row) {
  const body = h("tbody");
  const more = h("button", { type: "button", class: "quiet", hidden: true }, "More");
  let after = null;
  async function load() {
    const separator = path.includes("?") ? "&" : "?";
    const query = after ? `${separator}limit=${PAGE}&after=${encodeURIComponent(after)}` : `${separator}limit=${PAGE}`;
    const page = await api(path + query);
    body.append(...page.data.map(row));
    after = page.next;
    more.hidden = !after;
  }
  more.addEventListener("click", () => load().catch((error) => more.replaceWith(failure(error))));
  await load();
  return h("div", {}, h("table", {}, h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))), body), more);
}

const views = {
  async overview() {
    const table = await pagedTable("/v1/webhooks", ["Webhook", "Status", "Created"], (webhook) =>
      h("tr", {},
        h("td", {}, h("a", { href: `#/webhooks/${webhook.id}` }, webhook.url), h("div", { class: "muted" }, webhook.description)),
        h("td", {}, webhook.active ? h("span", { class: "ok" }, "active") : h("span", { class: "error" }, `paused: ${webhook.disabledReason ?? ""}`)),
        h("td", {}, when(webhook.createdAt))));
    return [h("h1", {}, "Overview"), h("h2", {}, "Webhooks"), table];
  },

  async identities() {
    const table = await pagedTable("/v1/identities", ["Handle", "Head seq", "Created"], (identity) =>
      h("tr", {},
        h("td", {}, h("a", { href: `#/identities/${encodeURIComponent(identity.handle)}` }, identity.handle)),
        h("td", {}, identity.headSeq),
        h("td", {}, when(identity.createdAt))));
    return [h("h1", {}, "Identities"), table];
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
    return [h("h1", {}, handle), h("p", { class: "muted" }, `Head seq ${identity.headSeq}`), filter, events, older];
  },

  async webhooks() {
    const table = await pagedTable("/v1/webhooks", ["URL", "Events", "Status"], (webhook) =>
      h("tr", {},
        h("td", {}, h("a", { href: `#/webhooks/${webhook.id}` }, webhook.url)),
        h("td", {}, webhook.events ? webhook.events.join(", ") : "all"),
        h("td", {}, webhook.active ? "active" : `paused: ${webhook.disabledReason ?? ""}`)));
    return [h("h1", {}, "Webhooks"), table];
  },

  async webhook(id) {
    const webhook = await api(`/v1/webhooks/${encodeURIComponent(id)}`);
    const deliveries = await pagedTable(`/v1/webhooks/${encodeURIComponent(id)}/deliveries`, ["Delivery", "Identity", "Status", "Attempts"], (delivery) =>
      h("tr", {},
        h("td", {}, h("details", {}, h("summary", {}, delivery.id), h("pre", {}, JSON.stringify(delivery.attempts, null, 2)))),
        h("td", {}, `${delivery.identity} #${delivery.seq}`),
        h("td", {}, delivery.status),
        h("td", {}, delivery.attempts.length)));
    return [h("h1", {}, webhook.url), h("pre", {}, JSON.stringify(webhook, null, 2)), h("h2", {}, "Deliveries"), deliveries];
  },

  async "event-types"() {
    const table = await pagedTable("/v1/event-types", ["Type", "Description"], (type) =>
      h("tr", {},
        h("td", {}, type.name),
        h("td", {}, h("details", {}, h("summary", {}, type.description || "—"), h("pre", {}, JSON.stringify(type.schema, null, 2))))));
    return [h("h1", {}, "Event types"), table];
  },

  async "api-keys"() {
    const table = await pagedTable("/v1/api-keys", ["Name", "Scopes", "Identity", "Created"], (key) =>
      h("tr", {},
        h("td", {}, key.name ?? key.id),
        h("td", {}, key.scopes.join(", ")),
        h("td", {}, key.identity ?? "any"),
        h("td", {}, when(key.createdAt))));
    return [h("h1", {}, "API keys"), table];
  },
};

async function route() {
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
  try {
    show(...await view(argument === undefined ? undefined : decodeURIComponent(argument)));
  } catch (error) {
    show(failure(error));
  }
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
