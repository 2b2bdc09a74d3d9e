// The status history strip and a plain SVG line chart (no charting library).
import { h, severity } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

// Oldest first, as the API gives it; the word is in each cell's label, not in its colour alone.
export function historyStrip(history) {
  const cells = (history || []).map((status, i) => {
    const word = severity(Number(status));
    return h("li", { class: `cell sev-${word}`, title: `${i + 1}: ${word} (${status})`, "aria-label": `${word} (${status})` },
      word[0].toUpperCase());
  });
  return h("div", { class: "history" },
    h("ol", { class: "strip", "aria-label": `Status history, oldest first, ${cells.length} results` }, cells),
    h("span", { class: "muted" }, " oldest → newest"));
}

function label(value) {
  const a = Math.abs(value);
  if (a >= 1e9) return (value / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (value / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (value / 1e3).toFixed(1) + "k";
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

// series: [{name, points: [[epoch, value], ...]}]
export function lineChart(series, title) {
  const lines = series.filter((one) => one.points.length);
  if (!lines.length) return h("p", { class: "muted" }, "No points to draw yet.");
  const all = lines.flatMap((one) => one.points);
  let [t0, t1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [v0, v1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (t0 === t1) { t0 -= 60; t1 += 60; }
  if (v0 === v1) { v0 -= 1; v1 += 1; }
  const W = 640, H = 180, L = 52, R = 10, T = 10, B = 26;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - v0) / (v1 - v0)) * (H - T - B);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  svg.append(s("title", {}, title));
  for (const v of [v0, (v0 + v1) / 2, v1]) {
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(s("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", class: "axis" }, label(v)));
  }
  for (const [t, anchor] of [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]]) {
    const d = new Date(t * 1000);
    svg.append(s("text", { x: x(t), y: H - 8, "text-anchor": anchor, class: "axis" },
      `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`));
  }
  lines.forEach((one, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = [...one.points].sort((a, b) => a[0] - b[0]);
    if (pts.length === 1) svg.append(s("circle", { cx: x(pts[0][0]), cy: y(pts[0][1]), r: 3, fill: color }));
    else svg.append(s("polyline", { points: pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "),
      fill: "none", stroke: color, "stroke-width": 1.5 }));
  });
  const legend = h("ul", { class: "legend" }, lines.map((one, i) => {
    const last = one.points[one.points.length - 1];
    const swatch = h("span", { class: "swatch" });
    swatch.style.background = COLORS[i % COLORS.length];
    return h("li", {}, swatch, ` ${one.name} `, h("span", { class: "muted" }, `last ${label(last[1])}`));
  }));
  return h("figure", { class: "graph" }, svg, legend);
}

// Points of the series ogi holds arrive one value at a time: the page keeps what it has seen.
const seen = new Map();

export function accumulate(key, series) {
  const kept = seen.get(key) || new Map();
  for (const one of series) {
    const points = kept.get(one.name) || new Map();
    for (const [t, v] of one.points) points.set(t, v);
    kept.set(one.name, points);
  }
  seen.set(key, kept);
  return [...kept].map(([name, points]) => ({ name, points: [...points].sort((a, b) => a[0] - b[0]) }));
}

// The status history as a series, each result placed one interval apart before the last run.
export function historySeries(history) {
  const statuses = history?.statuses || [];
  const last = history?.executed, step = history?.interval;
  if (!statuses.length || typeof last !== "number" || typeof step !== "number") return [];
  const n = statuses.length;
  return [{ name: "status (0 ok, 1 warning, 2 critical)", points: statuses.map((v, i) => [last - (n - 1 - i) * step, v]) }];
}
