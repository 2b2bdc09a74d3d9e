// The router, the live refresh and the banner.
import { failures, loadSettings, settings } from "./api.js";
import { h, message, replace } from "./dom.js";
import { clientsView, clientView } from "./clients.js";
import { eventView } from "./event.js";
import { eventsView } from "./events.js";
import { aggregatesView, checksView, silencedView, stashesView } from "./lists.js";

const main = document.getElementById("main");
const banner = document.getElementById("banner");
const updated = document.getElementById("updated");

const ROUTES = {
  events: eventsView, clients: clientsView, checks: checksView, silenced: silencedView,
  aggregates: aggregatesView, stashes: stashesView, event: eventView, client: clientView,
};

let current = null;
let running = false;

function showBanner(error) {
  const lines = [];
  if (error) lines.push(error.message);
  for (const [site, text] of failures) if (!error || error.site !== site) lines.push(`${site === "local" ? "The API" : "Site " + site}: ${text}; its rows are stale.`);
  banner.hidden = !lines.length;
  replace(banner, lines.map((line) => h("div", {}, line)));
}

// The page's own timing, read by `python -m bench.dashboard`: "ogi-first-screen" from navigation
// to the first view painted, "ogi-refresh" from a later refresh's start (its fetch included) to its
// paint, and "ogi-render" from its data's arrival (api.js marks "ogi-data") to the paint.
let firstScreen = true;

function measureAfterPaint(name, start) {
  // after the next frame's style, layout and paint: a task queued from requestAnimationFrame
  requestAnimationFrame(() => setTimeout(() => {
    const end = performance.now();
    performance.measure(name, { start, end });
    const data = performance.getEntriesByName("ogi-data", "mark").at(-1);
    if (data && data.startTime >= start) performance.measure("ogi-render", { start: data.startTime, end });
  }, 0));
}

async function refresh() {
  if (!current || running) return;
  running = true;
  const view = current;
  const began = performance.now();
  try {
    await view.refresh();
    measureAfterPaint(firstScreen ? "ogi-first-screen" : "ogi-refresh", firstScreen ? 0 : began);
    firstScreen = false;
    view.loaded = true;
    if (view === current) {
      showBanner(null);
      updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    }
  } catch (error) {
    if (view === current) showBanner(error);
    if (!view.loaded && view === current) replace(main, message("error", `Cannot show this page: ${error.message}`));
  } finally {
    running = false;
  }
}

function route() {
  const [name, ...args] = window.location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const make = ROUTES[name] || eventsView;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === (ROUTES[name] ? name : "events")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  current = make(main, {}, ...args);
  window.scrollTo(0, 0);
  running = false;
  refresh();
}

async function start() {
  try {
    await loadSettings();
  } catch (error) {
    replace(main, message("error", `The dashboard cannot start: ${error.message}`));
    return;
  }
  window.addEventListener("hashchange", route);
  route();
  setInterval(refresh, Math.max(1, settings.refresh) * 1000);
}

start();
