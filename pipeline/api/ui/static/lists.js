// Checks, silences, aggregates and stashes: list and act.
import { del, gather, get, post, settings } from "./api.js";
import { age, enc, h, message, replace, siteTag } from "./dom.js";

function table(columns, rows, empty) {
  return h("div", { class: "table-wrap" }, h("table", { class: "list" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty)))));
}

function view(root, title, ...top) {
  const status = h("div", {});
  const body = h("div", {});
  replace(root, h("h1", {}, title), ...top, status, body);
  return { status, body };
}

export function checksView(root) {
  const { status, body } = view(root, "Checks");
  async function refresh() {
    const checks = await gather("checks");
    replace(body, table(["Check", "Command", "Subscribers", "Interval", "Site", ""], checks.map((c) => h("tr", { class: c._stale ? "stale" : "" },
      h("td", {}, c.name), h("td", {}, h("code", {}, c.command || c.extension || "")), h("td", {}, (c.subscribers || []).join(", ")),
      h("td", { class: "num" }, c.interval ?? (c.cron || "")), h("td", {}, siteTag(c._site, c._stale)),
      h("td", {}, h("button", { type: "button", class: "request", onclick: async () => {
        try { await post(c._site, "request", { check: c.name, subscribers: c.subscribers || [] }); replace(status, message("ok", `Requested ${c.name}.`)); }
        catch (error) { replace(status, message("error", `Not requested: ${error.message}`)); }
      } }, "Request now")))), "No checks are defined."));
  }
  return { refresh };
}

export function silencedView(root) {
  const subscription = h("input", { type: "text", id: "new-subscription", placeholder: "client:web-1 or linux", "aria-label": "Subscription" });
  const check = h("input", { type: "text", id: "new-check", placeholder: "check (optional)", "aria-label": "Check" });
  const expire = h("input", { type: "number", id: "new-expire", min: "1", placeholder: "expire s (optional)", "aria-label": "Expire after seconds" });
  const reason = h("input", { type: "text", id: "new-reason", placeholder: "reason", "aria-label": "Reason" });
  const site = h("select", { id: "new-site", "aria-label": "Site" }, settings.sites.map((s) => h("option", { value: s }, s)));
  const form = h("form", { class: "filters panel", "aria-label": "New silence" }, subscription, check, expire, reason,
    settings.sites.length > 1 ? site : null, h("button", { type: "submit", class: "primary" }, "Create silence"));
  const { status, body } = view(root, "Silenced", form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const entry = { creator: "dashboard" };
    if (subscription.value) entry.subscription = subscription.value;
    if (check.value) entry.check = check.value;
    if (expire.value) entry.expire = Number(expire.value);
    if (reason.value) entry.reason = reason.value;
    try { await post(site.value || "local", "silenced", entry); replace(status, message("ok", "Silence created.")); form.reset(); }
    catch (error) { replace(status, message("error", `Not created: ${error.message}`)); }
    refresh();
  });
  async function refresh() {
    const entries = await gather("silenced");
    replace(body, table(["Id", "Reason", "Creator", "Expires in", "On resolve", "Site", ""], entries.map((s) => h("tr", { class: s._stale ? "stale" : "", "data-id": s.id },
      h("td", {}, s.id), h("td", {}, s.reason || ""), h("td", {}, s.creator || ""),
      h("td", {}, typeof s.expire === "number" && s.expire >= 0 ? age(s.expire) : "never"),
      h("td", {}, s.expire_on_resolve ? "yes" : "no"), h("td", {}, siteTag(s._site, s._stale)),
      h("td", {}, h("button", { type: "button", class: "clear", onclick: async () => {
        try { await post(s._site, "silenced/clear", { id: s.id }); replace(status, message("ok", `Cleared ${s.id}.`)); }
        catch (error) { replace(status, message("error", `Not cleared: ${error.message}`)); }
        refresh();
      } }, "Clear")))), "Nothing is silenced."));
  }
  return { refresh };
}

export function aggregatesView(root) {
  const { body } = view(root, "Aggregates");
  async function refresh() {
    const names = await gather("aggregates");
    const rows = await Promise.all(names.map(async (a) => {
      let counts = null;
      try { counts = await get(a._site, `aggregates/${enc(a.name)}`); } catch { counts = null; }
      const r = counts?.results || {};
      return h("tr", { class: a._stale ? "stale" : "" }, h("td", {}, a.name),
        ["ok", "warning", "critical", "unknown", "total", "stale"].map((k) => h("td", { class: "num" }, counts ? r[k] ?? 0 : "?")),
        h("td", {}, siteTag(a._site, a._stale)));
    }));
    replace(body, table(["Aggregate", "OK", "Warning", "Critical", "Unknown", "Total", "Stale", "Site"], rows, "No aggregates."));
  }
  return { refresh };
}

export function stashesView(root) {
  const { status, body } = view(root, "Stashes");
  async function refresh() {
    const stashes = await gather("stashes");
    replace(body, table(["Path", "Content", "Expires in", "Site", ""], stashes.map((s) => h("tr", { class: s._stale ? "stale" : "" },
      h("td", {}, s.path), h("td", {}, h("code", {}, JSON.stringify(s.content))),
      h("td", {}, typeof s.expire === "number" && s.expire >= 0 ? age(s.expire) : "never"), h("td", {}, siteTag(s._site, s._stale)),
      h("td", {}, h("button", { type: "button", onclick: async () => {
        try { await del(s._site, `stashes/${s.path.split("/").map(enc).join("/")}`); replace(status, message("ok", `Deleted ${s.path}.`)); }
        catch (error) { replace(status, message("error", `Not deleted: ${error.message}`)); }
        refresh();
      } }, "Delete")))), "No stashes."));
  }
  return { refresh };
}
