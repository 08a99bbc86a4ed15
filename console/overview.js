// The overview: the tenant's appends and delivery attempts over a window, charted, and
// each webhook's health, from `GET /v1/stats`.

import { barChart, legend } from "./charts.js";
import { PAGE, api, failure, field, h, when } from "./dom.js";

const WINDOW = "seqhook.window";

const percent = (rate) => (rate === null ? "—" : `${(rate * 100).toFixed(rate === 1 ? 0 : 1)}%`);
const millis = (ms) => (ms < 1 ? "<1 ms" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

function age(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

const OUTCOMES = [
  { key: "delivered", label: "delivered" },
  { key: "retrying", label: "retrying" },
  { key: "failed", label: "failed" },
];

/** One webhook's health: success, latency, backlog, last failure. */
function healthRow(webhook) {
  const last = webhook.lastFailure;
  const attempts = webhook.delivered + webhook.retrying + webhook.failed;
  return h("tr", { "data-webhook": webhook.id },
    h("td", {}, h("a", { href: `#/webhooks/${webhook.id}` }, webhook.url),
      webhook.description ? h("div", { class: "muted" }, webhook.description) : null),
    h("td", {}, webhook.active ? h("span", { class: "ok" }, "active")
      : h("span", { class: "error" }, `paused: ${webhook.disabledReason ?? ""}`)),
    h("td", { class: "success" }, percent(webhook.successRate),
      h("div", { class: "muted" }, `${attempts} attempt${attempts === 1 ? "" : "s"}`)),
    h("td", { class: "latency" }, webhook.latencyMs ? `${millis(webhook.latencyMs.p50)} / ${millis(webhook.latencyMs.p99)}` : "—"),
    h("td", { class: "pending" }, `${webhook.backlog.pending}${webhook.backlog.capped ? "+" : ""}`,
      webhook.backlog.oldestAgeSeconds === null ? null
        : h("div", { class: "muted" }, `oldest ${age(webhook.backlog.oldestAgeSeconds)}`)),
    h("td", { class: "last-failure" }, last === null ? "—" : [
      h("strong", { class: "error" }, last.statusCode ?? "no answer"), " · ", when(last.at),
      last.error ? h("div", { class: "error" }, last.error) : null,
      last.responseBody ? h("div", { class: "muted clip" }, last.responseBody.slice(0, 160)) : null,
    ]));
}

/** The stats over a window: totals, charts, and a page of webhooks' health. */
async function statsReport(span, label) {
  const first = await api(`/v1/stats?window=${span}&limit=${PAGE}`);
  const { totals, series } = first;
  const step = first.stepSeconds === 60 ? "minute" : `${first.stepSeconds / 60} minutes`;
  const rows = h("tbody", {}, first.webhooks.map(healthRow));
  const more = h("button", { type: "button", class: "quiet", hidden: !first.next }, "More webhooks");
  let after = first.next;
  more.addEventListener("click", async () => {
    try {
      const page = await api(`/v1/stats?window=${span}&limit=${PAGE}&after=${encodeURIComponent(after)}`);
      rows.append(...page.webhooks.map(healthRow));
      after = page.next;
      more.hidden = !after;
    } catch (error) {
      more.replaceWith(failure(error));
    }
  });
  const busy = series.filter((point) => point.appended + point.delivered + point.retrying + point.failed > 0);
  return h("div", {},
    h("p", { class: "summary", id: "stats-totals" },
      `Last ${label}: ${totals.appended} appended · ${totals.delivered} delivered · ${totals.retrying} retrying · ${totals.failed} failed · success ${percent(totals.successRate)}`),
    h("div", { class: "charts" },
      h("figure", {},
        h("figcaption", {}, `Delivery attempts per ${step}`),
        barChart("Delivery attempts", series, OUTCOMES), legend(OUTCOMES)),
      h("figure", {},
        h("figcaption", {}, `Events appended per ${step}`),
        barChart("Events appended", series, [{ key: "appended", label: "appended" }]))),
    h("details", {}, h("summary", {}, "The charts as a table"),
      busy.length === 0 ? h("p", { class: "muted" }, "Nothing happened in this window.") :
        h("table", {}, h("thead", {}, h("tr", {}, ["From", "Appended", "Delivered", "Retrying", "Failed"].map((c) => h("th", {}, c)))),
          h("tbody", {}, busy.map((point) => h("tr", {}, h("td", {}, when(point.at)), h("td", {}, point.appended),
            h("td", {}, point.delivered), h("td", {}, point.retrying), h("td", {}, point.failed)))))),
    h("h2", {}, "Webhooks"),
    first.webhooks.length === 0 ? h("p", { class: "muted" }, "No webhooks yet. ", h("a", { href: "#/webhooks" }, "Create one")) :
      h("table", { id: "webhook-health" },
        h("thead", {}, h("tr", {}, ["Webhook", "Status", "Success", "Latency p50 / p99", "Pending", "Last failure"].map((c) => h("th", {}, c)))),
        rows),
    more);
}

/** The overview page; a key without `webhooks` is told what it can see instead. */
export async function overview() {
  const windows = { "15m": "15 minutes", "1h": "hour", "6h": "6 hours", "24h": "24 hours" };
  const chosen = windows[sessionStorage.getItem(WINDOW)] ? sessionStorage.getItem(WINDOW) : "1h";
  const picker = h("select", { name: "window", id: "stats-window" },
    Object.entries(windows).map(([value, label]) => h("option", { value, selected: value === chosen }, `Last ${label}`)));
  const report = h("div", { id: "stats" });
  const load = async () => {
    report.replaceChildren(await statsReport(picker.value, windows[picker.value]));
  };
  picker.addEventListener("change", () => {
    sessionStorage.setItem(WINDOW, picker.value);
    load().catch((error) => report.replaceChildren(failure(error)));
  });
  const refresh = h("button", { type: "button", class: "quiet" }, "Refresh");
  refresh.addEventListener("click", () => load().catch((error) => report.replaceChildren(failure(error))));
  try {
    await load();
  } catch (error) {
    // A key without `webhooks` (one bound to an identity, say) has no overview to see.
    if (error.status !== 403) throw error;
    return [h("h1", {}, "Overview"), failure(error),
      h("p", {}, "The overview covers the whole tenant. ", h("a", { href: "#/identities" }, "Identities"),
        " shows what this key reaches.")];
  }
  return [h("h1", {}, "Overview"), h("div", { class: "toolbar" }, field("Window", picker), refresh), report];
}
