// DOM building without innerHTML: every text from the API goes through textContent.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const SEVERITIES = ["critical", "warning", "unknown", "ok"];

export function severity(status) {
  if (status === 0) return "ok";
  if (status === 1) return "warning";
  if (status === 2) return "critical";
  return "unknown";
}

// Worst first: critical, warning, unknown, ok.
export function rank(status) {
  return SEVERITIES.indexOf(severity(status));
}

export function badge(status) {
  const word = severity(status);
  return h("span", { class: `sev sev-${word}`, title: `status ${status}` }, word.toUpperCase());
}

export function age(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function now() {
  return Date.now() / 1000;
}

export function when(epoch) {
  if (typeof epoch !== "number" || epoch <= 0) return "never";
  return `${new Date(epoch * 1000).toLocaleString()} (${age(now() - epoch)} ago)`;
}

export function firstLine(text, limit = 160) {
  const line = String(text ?? "").split("\n", 1)[0];
  return line.length > limit ? line.slice(0, limit) + "…" : line;
}

// A long text shown escaped and cut, with a button to see all of it.
export const OUTPUT_SHOWN = 65536;

// `expanded` is an object the caller keeps, so a live refresh does not cut the text again.
export function outputBlock(text, expanded = {}) {
  const full = String(text ?? "");
  const cut = full.length > OUTPUT_SHOWN && !expanded.all;
  const pre = h("pre", { class: "output" }, cut ? full.slice(0, OUTPUT_SHOWN) : full);
  if (!cut) return pre;
  const more = h("button", { type: "button", class: "link" }, `Show all ${full.length.toLocaleString()} characters`);
  more.addEventListener("click", () => { expanded.all = true; pre.textContent = full; more.parentElement.remove(); });
  return h("div", {}, pre, h("p", { class: "muted" }, `Cut at ${OUTPUT_SHOWN.toLocaleString()} characters. `, more));
}

export function jsonBlock(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function message(kind, text) {
  return h("p", { class: `msg msg-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function siteTag(site, stale) {
  return h("span", { class: stale ? "site stale" : "site", title: stale ? "this site did not answer: the row is stale" : "site" },
    site, stale ? " (stale)" : "");
}

export function link(href, ...children) {
  return h("a", { href }, ...children);
}

export function enc(part) {
  return encodeURIComponent(part);
}
