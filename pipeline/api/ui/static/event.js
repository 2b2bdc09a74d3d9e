// One event: full output, history strip, last_ok, silenced_by, the check definition, a graph, actions.
import { get, post } from "./api.js";
import { age, badge, enc, h, jsonBlock, link, message, now, outputBlock, replace, siteTag, when } from "./dom.js";
import { accumulate, historySeries, historyStrip, lineChart } from "./graph.js";
import { silenceForm } from "./silence.js";

// metricsOnly: null when the check has no metric series (the client page graphs those alone).
export async function graphSection(site, client, check, metricsOnly = false) {
  if (site !== "local") return h("p", { class: "muted" }, "Graphs are drawn for the local site only.");
  const data = await get("local", `ui/graph?client=${enc(client)}&check=${enc(check)}`);
  const metrics = data.source === "ogi" ? accumulate(`${client}/${check}`, data.series) : data.series;
  const hours = data.hours;
  if (metricsOnly && !metrics.length) return null;
  if (metricsOnly) return h("div", { class: "graphs", "data-source": data.source }, lineChart(metrics, `metrics of ${check} on ${client}`));
  return h("div", { class: "graphs", "data-source": data.source },
    data.error ? message("error", data.error) : null,
    metrics.length ? h("div", {}, h("h3", {}, `Metrics (${data.source === "ogi" ? "last values ogi holds, gathered while this page is open" : `${data.source}, last ${hours} h`})`),
      lineChart(metrics, `metrics of ${check} on ${client}`)) : h("p", { class: "muted" }, `No metric series for this check in ${data.source}.`),
    h("h3", {}, "Status"),
    lineChart(historySeries(data.history), `status history of ${check} on ${client}`));
}

export function eventView(root, ctx, site, client, check) {
  const status = h("div", {});
  const panel = h("div", {});
  const details = h("div", {});
  const graph = h("section", { "aria-label": "Graphs" });
  let event = null;
  let shownSignature = "";
  const expanded = {};
  const actions = h("div", { class: "actions" },
    h("button", { type: "button", id: "silence-event", onclick: () => replace(panel, silenceForm(
      [{ site, subscription: `client:${client}`, check }],
      (text) => { replace(panel); replace(status, message("ok", text)); refresh(); }, () => replace(panel))) }, "Silence…"),
    h("button", { type: "button", id: "resolve-event", onclick: async () => {
      try { await post(site, "resolve", { client, check }); replace(status, message("ok", "Resolved.")); }
      catch (error) { replace(status, message("error", `Not resolved: ${error.message}`)); }
      refresh();
    } }, "Resolve"),
    h("button", { type: "button", id: "request-check", onclick: async () => {
      const subscribers = event?.check?.subscribers?.length ? event.check.subscribers : [`client:${client}`];
      try { await post(site, "request", { check, subscribers }); replace(status, message("ok", `Requested ${check} from ${subscribers.join(", ")}.`)); }
      catch (error) { replace(status, message("error", `Not requested: ${error.message}`)); }
    } }, "Request now"));
  replace(root, h("p", {}, link("#/events", "← Events")),
    h("h1", {}, `${check} on `, link(`#/client/${enc(site)}/${enc(client)}`, client), " ", siteTag(site, false)),
    actions, panel, status, details, h("h2", {}, "Graphs"), graph);

  async function refresh() {
    let definition = null;
    try {
      event = await get(site, `events/${enc(client)}/${enc(check)}`);
    } catch (error) {
      if (error.status !== 404) throw error;
      event = null;
    }
    try { definition = await get(site, `checks/${enc(check)}`); } catch { definition = null; }
    // Redrawn only when something changed (or a minute passed, for the ages), so a refresh
    // keeps the reader's text selection and scroll inside the output.
    const signature = JSON.stringify([event, definition, Math.floor(now() / 60)]);
    if (signature === shownSignature) return refreshGraph();
    shownSignature = signature;
    if (!event) {
      replace(details, message("ok", "No open event: the check is OK or the event was resolved."));
    } else {
      const c = event.check || {};
      replace(details,
        h("dl", { class: "facts" },
          h("dt", {}, "Status"), h("dd", {}, badge(c.status), ` exit ${c.status}`),
          h("dt", {}, "Occurrences"), h("dd", {}, event.occurrences ?? "–"),
          h("dt", {}, "Since change"), h("dd", {}, age(now() - (event.last_state_change || event.timestamp))),
          h("dt", {}, "Last OK"), h("dd", { id: "last-ok" }, when(event.last_ok)),
          h("dt", {}, "Executed"), h("dd", {}, when(c.executed)),
          h("dt", {}, "Silenced by"), h("dd", { id: "silenced-by" }, event.silenced_by?.length ? event.silenced_by.join(", ") : "not silenced"),
          h("dt", {}, "History"), h("dd", {}, historyStrip(c.history))),
        h("h2", {}, "Output"), outputBlock(c.output, expanded),
        h("h2", {}, "Check definition"), jsonBlock(definition || Object.fromEntries(
          Object.entries(c).filter(([key]) => !["output", "history", "executed", "issued", "status", "duration", "total_state_change"].includes(key)))));
    }
    await refreshGraph();
  }

  async function refreshGraph() {
    try {
      replace(graph, await graphSection(site, client, check));
    } catch (error) {
      replace(graph, message("error", `No graph: ${error.message}`));
    }
  }
  return { refresh };
}
