// Clients: keepalive age (stale first), subscriptions, version, address, open events; the client page.
import { del, gather, get } from "./api.js";
import { age, badge, enc, firstLine, h, jsonBlock, link, message, now, replace, siteTag, when } from "./dom.js";
import { eventHref } from "./events.js";
import { graphSection } from "./event.js";
import { silenceForm } from "./silence.js";

function threshold(client) {
  const t = client.keepalive?.thresholds?.warning;
  return typeof t === "number" ? t : 120;
}

export function clientsView(root) {
  const body = h("tbody", {});
  const search = h("input", { type: "search", id: "client-search", placeholder: "Search clients", "aria-label": "Search clients",
    oninput: () => render() });
  let clients = [], events = [];
  replace(root, h("h1", {}, "Clients"), h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() }, search),
    h("div", { class: "table-wrap" }, h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["Client", "Keepalive age", "Open events", "Subscriptions", "Version", "Address", "Site"].map((c) => h("th", {}, c)))),
      body)));

  function render() {
    const t = now();
    const q = search.value.toLowerCase();
    const open = new Map();
    for (const e of events) {
      const key = `${e._site}/${e.client?.name}`;
      open.set(key, [...(open.get(key) || []), e]);
    }
    const rows = clients.filter((c) => !q || `${c.name} ${c.address} ${(c.subscriptions || []).join(" ")}`.toLowerCase().includes(q))
      .map((c) => ({ c, age: t - (c.timestamp || 0), stale: t - (c.timestamp || 0) > threshold(c) }))
      .sort((a, b) => (b.stale - a.stale) || (b.age - a.age) || String(a.c.name).localeCompare(String(b.c.name)));
    replace(body, rows.length ? rows.map(({ c, age: seconds, stale }) => {
      const mine = open.get(`${c._site}/${c.name}`) || [];
      const worst = mine.reduce((w, e) => Math.max(w, e.check?.status === 2 ? 3 : e.check?.status === 1 ? 2 : 1), 0);
      return h("tr", { class: c._stale ? "stale" : "" },
        h("td", {}, link(`#/client/${enc(c._site)}/${enc(c.name)}`, c.name)),
        h("td", { class: stale ? "late" : "" }, age(seconds), stale ? " (stale)" : ""),
        h("td", { class: "num" }, mine.length ? [String(mine.length), " ", badge(worst === 3 ? 2 : worst === 2 ? 1 : 3)] : "0"),
        h("td", {}, (c.subscriptions || []).join(", ")),
        h("td", {}, c.version || ""),
        h("td", {}, c.address || ""),
        h("td", {}, siteTag(c._site, c._stale)));
    }) : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No clients.")));
  }

  async function refresh() {
    [clients, events] = await Promise.all([gather("clients"), gather("events")]);
    render();
  }
  return { refresh };
}

export function clientView(root, ctx, site, name) {
  const status = h("div", {});
  const panel = h("div", {});
  const details = h("div", {});
  const graphs = h("div", {});
  replace(root, h("p", {}, link("#/clients", "← Clients")), h("h1", {}, name, " ", siteTag(site, false)),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "silence-client", onclick: () => replace(panel, silenceForm([{ site, subscription: `client:${name}` }],
        (text) => { replace(panel); replace(status, message("ok", text)); }, () => replace(panel))) }, "Silence client…"),
      h("button", { type: "button", id: "delete-client", class: "danger", onclick: async () => {
        if (!window.confirm(`Delete ${name}? Its keepalives are refused for an hour (invalidate).`)) return;
        try {
          await del(site, `clients/${enc(name)}?invalidate=true&invalidate_expire=3600`);
          replace(status, message("ok", `${name} is being deleted once its events are resolved.`));
        } catch (error) { replace(status, message("error", `Not deleted: ${error.message}`)); }
      } }, "Delete client")),
    panel, status, details, graphs);

  async function refresh() {
    const [client, events, results] = await Promise.all([
      get(site, `clients/${enc(name)}`), get(site, `events/${enc(name)}`), get(site, `results/${enc(name)}`)]);
    const t = now();
    replace(details,
      h("dl", { class: "facts" },
        h("dt", {}, "Keepalive"), h("dd", {}, `${age(t - (client.timestamp || 0))} ago`),
        h("dt", {}, "Address"), h("dd", {}, client.address || ""),
        h("dt", {}, "Subscriptions"), h("dd", {}, (client.subscriptions || []).join(", ")),
        h("dt", {}, "Version"), h("dd", {}, client.version || "")),
      h("h2", {}, `Open events (${events.length})`),
      events.length ? h("ul", { class: "plain" }, events.map((e) => h("li", {}, badge(e.check?.status), " ",
        link(eventHref({ ...e, _site: site }), e.check?.name), " ", firstLine(e.check?.output)))) : h("p", { class: "muted" }, "None."),
      h("h2", {}, "Latest results"),
      h("div", { class: "table-wrap" }, h("table", { class: "list" },
        h("thead", {}, h("tr", {}, ["Check", "Status", "Output", "Executed"].map((c) => h("th", {}, c)))),
        h("tbody", {}, (results || []).map((r) => h("tr", {},
          h("td", {}, link(`#/event/${enc(site)}/${enc(name)}/${enc(r.check?.name)}`, r.check?.name)),
          h("td", {}, badge(r.check?.status)), h("td", {}, firstLine(r.check?.output)), h("td", {}, when(r.check?.executed))))))),
      h("h2", {}, "Definition"), jsonBlock(client));
    if (site === "local") {
      const names = (results || []).map((r) => r.check?.name).filter(Boolean).slice(0, 20);
      const parts = (await Promise.all(names.map(async (check) => {
        try {
          const chart = await graphSection(site, name, check, true);
          return chart && h("section", {}, h("h3", {}, check), chart);
        } catch (error) { return message("error", `${check}: ${error.message}`); }
      }))).filter(Boolean);
      replace(graphs, h("h2", {}, "Graphs"), parts.length ? parts : h("p", { class: "muted" }, "No check of this client has metric series."));
    }
  }
  return { refresh };
}
