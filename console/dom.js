// What every page of the console is made of: the API client (the signed-in key as a
// bearer header, an error answer thrown as its `message`) and DOM helpers that build
// elements with textContent only, so nothing the API returns is parsed as HTML.

export const KEY = "seqhook.apiKey";
export const PAGE = 50;

export const $ = (selector) => document.querySelector(selector);

/** An element with attributes and children (strings become text). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) element.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== undefined && child !== null && child !== false) {
      element.append(child instanceof Node ? child : String(child));
    }
  }
  return element;
}

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Calls the API with the signed-in key; an error answer throws its `message`. */
export async function api(path, options = {}) {
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

export function show(...children) {
  $("#view").replaceChildren(...children);
}

export function failure(error) {
  return h("p", { class: "error", role: "alert" }, error.message);
}

export function json(value) {
  return h("pre", {}, JSON.stringify(value, null, 2));
}

export function field(label, input) {
  return h("label", {}, `${label} `, input);
}

/** A form whose submit runs `action` and shows its outcome (or the API's message) in place. */
export function actionForm(attributes, children, action) {
  const outcome = h("div", { class: "outcome", role: "status" });
  const form = h("form", { ...attributes, class: "toolbar" }, children, outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    outcome.replaceChildren();
    try {
      const shown = await action(new FormData(form));
      if (shown) outcome.replaceChildren(shown);
    } catch (error) {
      outcome.replaceChildren(failure(error));
    }
  });
  return form;
}

/** A button that runs `action` and shows its outcome beside it. */
export function actionButton(label, action, attributes = {}) {
  const outcome = h("span", { class: "outcome", role: "status" });
  const button = h("button", { type: "button", class: "quiet", ...attributes }, label);
  button.addEventListener("click", async () => {
    outcome.replaceChildren();
    try {
      const shown = await action();
      if (shown) outcome.replaceChildren(shown);
    } catch (error) {
      outcome.replaceChildren(failure(error));
    }
  });
  return h("span", {}, button, " ", outcome);
}

export const list = (text) => text.split(",").map((item) => item.trim()).filter(Boolean);

export function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : "—";
}

/** A paged list: fetches `path` with `after`, renders rows, offers the next page. */
export async function pagedTable(path, columns, row) {
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
