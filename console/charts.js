// Charts drawn as SVG by hand: a series of stacked bars, with each bar's numbers in its
// tooltip and the whole series also readable as a table. Colours come from the stylesheet
// (classes `series-<name>`), so they follow the light or dark theme.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 150;
const LEFT = 36;
const BOTTOM = 18;

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) element.append(child instanceof Node ? child : String(child));
  return element;
}

/** The smallest of 1, 2, 5 × 10ⁿ at or above `value`, so the axis reads in round numbers. */
function roundUp(value) {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * power).find((top) => top >= value);
}

const clock = (timestamp) =>
  new Date(timestamp).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

/**
 * A stacked bar chart of `points` (each with `at`), stacking `series` ([{key, label}])
 * bottom up. `title` names it for assistive technology and heads its table.
 */
export function barChart(title, points, series) {
  const top = roundUp(Math.max(0, ...points.map((point) => series.reduce((sum, s) => sum + point[s.key], 0))));
  const plotWidth = WIDTH - LEFT;
  const plotHeight = HEIGHT - BOTTOM;
  const slot = plotWidth / Math.max(points.length, 1);
  const scale = (value) => (value / top) * (plotHeight - 4);
  const totals = series.map((s) => `${points.reduce((sum, point) => sum + point[s.key], 0)} ${s.label}`).join(", ");
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img",
    "aria-label": `${title}: ${totals}`,
  });
  chart.append(
    svg("line", { x1: LEFT, x2: WIDTH, y1: plotHeight, y2: plotHeight, class: "axis" }),
    svg("line", { x1: LEFT, x2: WIDTH, y1: 4, y2: 4, class: "grid" }),
    svg("text", { x: LEFT - 6, y: 12, "text-anchor": "end", class: "tick" }, top),
    svg("text", { x: LEFT - 6, y: plotHeight, "text-anchor": "end", class: "tick" }, 0));
  if (points.length) {
    chart.append(
      svg("text", { x: LEFT, y: HEIGHT - 3, class: "tick" }, clock(points[0].at)),
      svg("text", { x: WIDTH, y: HEIGHT - 3, "text-anchor": "end", class: "tick" }, "now"));
  }
  points.forEach((point, i) => {
    const bar = svg("g", { class: "bar" });
    let y = plotHeight;
    for (const s of series) {
      const height = scale(point[s.key]);
      if (height > 0) {
        y -= height;
        bar.append(svg("rect", {
          x: LEFT + i * slot + 1, y, width: Math.max(slot - 2, 1), height, class: `series-${s.key}`,
        }));
      }
    }
    // The whole slot answers the pointer, so an empty minute shows its zeros too.
    bar.append(svg("rect", { x: LEFT + i * slot, y: 0, width: slot, height: plotHeight, class: "hit" }),
      svg("title", {}, `${clock(point.at)} — ${series.map((s) => `${point[s.key]} ${s.label}`).join(", ")}`));
    chart.append(bar);
  });
  return chart;
}

/** The chart's legend: a swatch and a label per series. */
export function legend(series) {
  const list = document.createElement("ul");
  list.className = "legend";
  for (const s of series) {
    const item = document.createElement("li");
    item.append(svg("svg", { width: 10, height: 10, "aria-hidden": "true" },
      svg("rect", { width: 10, height: 10, class: `series-${s.key}` })), ` ${s.label}`);
    list.append(item);
  }
  return list;
}
