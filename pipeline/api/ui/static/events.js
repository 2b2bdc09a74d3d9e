// The events list: worst first, filters, search, sorting, counts, and actions on a selection.
import { gather, post } from "./api.js";
import { age, badge, enc, firstLine, h, link, message, now, rank, replace, SEVERITIES, severity, siteTag } from "./dom.js";
import { silenceForm } from "./silence.js";

// Kept across refreshes and visits, so live updates never lose what the user chose.
const state = {
  filters: { severity: "", client: "", subscription: "", check: "", silenced: "", q: "" },
  sort: { key: "severity", dir: 1 },
  selected: new Set(),
  limit: 0,
};

// Rows drawn at once: a browser lays out a table of 10,000 rows in seconds, and nobody reads past
// the worst few hundred; counts, filters and search still cover every event (docs/dashboard.md).
const PAGE = 200;

export const eventKey = (e) => `${e._site}/${e.client?.name}/${e.check?.name}`;
export const eventHref = (e) => `#/event/${enc(e._site)}/${enc(e.client?.name)}/${enc(e.check?.name)}`;

const COLUMNS = [
  ["severity", "Severity", (e) => rank(e.check?.status)],
  ["client", "Client", (e) => e.client?.name || ""],
  ["check", "Check", (e) => e.check?.name || ""],
  ["output", "Output", (e) => firstLine(e.check?.output)],
  ["occurrences", "Occurrences", (e) => e.occurrences || 0],
  ["age", "Since change", (e) => -(e.last_state_change || e.timestamp || 0)],
  ["silenced", "Silenced", (e) => (e.silenced ? 1 : 0)],
  ["site", "Site", (e) => e._site],
];

function matches(e, f) {
  if (f.severity && severity(e.check?.status) !== f.severity) return false;
  if (f.client && e.client?.name !== f.client) return false;
  if (f.check && e.check?.name !== f.check) return false;
  if (f.silenced === "yes" && !e.silenced) return false;
  if (f.silenced === "no" && e.silenced) return false;
  if (f.subscription) {
    const subs = [...(e.client?.subscriptions || []), ...(e.check?.subscribers || [])];
    if (!subs.includes(f.subscription)) return false;
  }
  if (f.q) {
    const hay = `${e.client?.name} ${e.check?.name} ${e.check?.output} ${e._site}`.toLowerCase();
    if (!hay.includes(f.q.toLowerCase())) return false;
  }
  return true;
}

function sorted(events) {
  const column = COLUMNS.find(([key]) => key === state.sort.key) || COLUMNS[0];
  const value = column[2];
  return [...events].sort((a, b) => {
    const x = value(a), y = value(b);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return order * state.sort.dir || rank(a.check?.status) - rank(b.check?.status) ||
      (b.last_state_change || 0) - (a.last_state_change || 0);
  });
}

function choices(values) {
  return [...new Set(values.filter(Boolean))].sort();
}

export function eventsView(root, ctx) {
  let events = [];
  const counts = h("div", { class: "counts", "aria-label": "Open events per severity" });
  const filterBar = h("form", { class: "filters", role: "search", onsubmit: (ev) => ev.preventDefault() });
  const actions = h("div", { class: "actions" });
  const panel = h("div", {});
  const body = h("tbody", {});
  const head = h("thead", {});
  const status = h("div", {});
  const more = h("div", { class: "actions", id: "more" });
  state.limit = PAGE;
  replace(root, h("h1", {}, "Events"), counts, filterBar, actions, panel, status,
    h("div", { class: "table-wrap" }, h("table", { class: "list events" }, head, body)), more);

  const selects = {};
  function select(name, label, options) {
    const current = state.filters[name];
    const el = h("select", { name, id: `filter-${name}`, "aria-label": label,
      onchange: () => { state.filters[name] = el.value; render(); } },
      h("option", { value: "" }, `${label}: all`), options.map((o) => h("option", { value: o, selected: o === current }, o)));
    return el;
  }
  const search = h("input", { type: "search", id: "search", placeholder: "Search client, check, output", value: state.filters.q,
    "aria-label": "Search", oninput: () => { state.filters.q = search.value; render(); } });

  function renderFilters() {
    const fields = {
      severity: ["Severity", SEVERITIES],
      client: ["Client", choices(events.map((e) => e.client?.name))],
      subscription: ["Subscription", choices(events.flatMap((e) => [...(e.client?.subscriptions || []), ...(e.check?.subscribers || [])]))],
      check: ["Check", choices(events.map((e) => e.check?.name))],
      silenced: ["Silenced", ["yes", "no"]],
    };
    // Rebuilt only when the choices change, so an open select or a focused control is not disturbed.
    const signature = JSON.stringify(Object.values(fields).map(([, o]) => o));
    if (filterBar.dataset.signature === signature) return;
    filterBar.dataset.signature = signature;
    const focused = document.activeElement?.id;
    for (const [name, [label, options]] of Object.entries(fields)) selects[name] = select(name, label, options);
    replace(filterBar, search, Object.values(selects));
    if (focused) document.getElementById(focused)?.focus();
  }

  function renderHead() {
    const all = h("input", { type: "checkbox", id: "select-all", "aria-label": "Select all shown",
      onchange: () => { for (const e of shown()) { if (all.checked) state.selected.add(eventKey(e)); else state.selected.delete(eventKey(e)); } render(); } });
    replace(head, h("tr", {}, h("th", {}, all), COLUMNS.map(([key, label]) => {
      const active = state.sort.key === key;
      return h("th", { "aria-sort": active ? (state.sort.dir > 0 ? "ascending" : "descending") : "none", class: `col-${key}` },
        h("button", { type: "button", class: "sort", "data-sort": key,
          onclick: () => { state.sort = { key, dir: active ? -state.sort.dir : 1 }; render(); renderHead(); } },
          label, active ? (state.sort.dir > 0 ? " ▲" : " ▼") : ""));
    })));
  }

  const matching = () => sorted(events.filter((e) => matches(e, state.filters)));
  const shown = () => matching().slice(0, state.limit);

  function render() {
    const per = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
    for (const e of events) per[severity(e.check?.status)] += 1;
    replace(counts, SEVERITIES.filter((s) => s !== "ok" || per.ok).map((s) =>
      h("button", { type: "button", class: `count sev-${s}`, "data-severity": s, "aria-pressed": String(state.filters.severity === s),
        onclick: () => { state.filters.severity = state.filters.severity === s ? "" : s; if (selects.severity) selects.severity.value = state.filters.severity; render(); } },
        h("strong", {}, per[s]), ` ${s}`)));
    const all = matching();
    const rows = all.slice(0, state.limit);
    const t = now();
    replace(body, rows.length ? rows.map((e) => {
      const key = eventKey(e);
      const box = h("input", { type: "checkbox", "aria-label": `Select ${e.client?.name} ${e.check?.name}`, checked: state.selected.has(key),
        onchange: () => { if (box.checked) state.selected.add(key); else state.selected.delete(key); renderActions(); } });
      return h("tr", { class: e._stale ? "stale" : "", "data-key": key },
        h("td", {}, box),
        h("td", { class: "col-severity" }, badge(e.check?.status)),
        h("td", { class: "col-client" }, link(`#/client/${enc(e._site)}/${enc(e.client?.name)}`, e.client?.name)),
        h("td", { class: "col-check" }, link(eventHref(e), e.check?.name)),
        h("td", { class: "col-output" }, firstLine(e.check?.output)),
        h("td", { class: "col-occurrences num" }, e.occurrences ?? ""),
        h("td", { class: "col-age" }, age(t - (e.last_state_change || e.timestamp))),
        h("td", { class: "col-silenced" }, e.silenced ? h("span", { class: "silenced", title: (e.silenced_by || []).join(", ") }, "🔕 silenced") : ""),
        h("td", { class: "col-site" }, siteTag(e._site, e._stale)));
    }) : h("tr", {}, h("td", { colspan: COLUMNS.length + 1, class: "muted" },
      events.length ? "No event matches the filters." : "No open events: everything is OK.")));
    renderMore(rows.length, all.length);
    renderActions();
  }

  function renderMore(drawn, total) {
    const grow = (limit) => () => { state.limit = limit; render(); };
    replace(more, drawn < total ? [
      h("span", { class: "muted" }, `Showing the first ${drawn} of ${total}.`),
      h("button", { type: "button", id: "show-more", onclick: grow(state.limit + PAGE * 5) }, `Show ${Math.min(PAGE * 5, total - drawn)} more`),
      h("button", { type: "button", id: "show-all", onclick: grow(Infinity) }, `Show all ${total}`),
    ] : []);
  }

  function selectedEvents() {
    return events.filter((e) => state.selected.has(eventKey(e)));
  }

  function renderActions() {
    const chosen = selectedEvents();
    replace(actions,
      h("span", { class: "muted" }, `${chosen.length} selected`),
      h("button", { type: "button", id: "silence-selected", disabled: !chosen.length, onclick: () => {
        replace(panel, silenceForm(chosen.map((e) => ({ site: e._site, subscription: `client:${e.client?.name}`, check: e.check?.name })),
          (text) => { replace(panel); state.selected.clear(); replace(status, message("ok", text)); refresh(); },
          () => replace(panel)));
      } }, "Silence selected"),
      h("button", { type: "button", id: "resolve-selected", disabled: !chosen.length, onclick: async () => {
        const failed = [];
        for (const e of chosen) {
          try { await post(e._site, "resolve", { client: e.client?.name, check: e.check?.name }); }
          catch (error) { failed.push(`${e.client?.name}/${e.check?.name}: ${error.message}`); }
        }
        state.selected.clear();
        replace(status, failed.length ? message("error", `Not resolved: ${failed.join("; ")}`) : message("ok", `Resolved ${chosen.length}.`));
        refresh();
      } }, "Resolve selected"));
  }

  async function refresh() {
    events = await gather("events");
    const known = new Set(events.map(eventKey));
    for (const key of [...state.selected]) if (!known.has(key)) state.selected.delete(key);
    renderFilters();
    render();
  }

  renderHead();
  return { refresh };
}
