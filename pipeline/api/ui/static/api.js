// Calls to the API serving the page ("local") and, through its proxy, to the sites of dashboard.apis.

const base = new URL("..", window.location.href);

export const settings = { refresh: 5, graph_hours: 3, graph_source: "ogi", sites: ["local"] };

export class ApiError extends Error {
  constructor(status, text, site) {
    super(text);
    this.status = status;
    this.site = site;
  }
}

export function url(site, path) {
  const rel = site === "local" ? path : `ui/sites/${encodeURIComponent(site)}/${path}`;
  return new URL(rel, base).toString();
}

async function call(method, site, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") {
    // A header and a content type no cross-site form can send.
    init.headers["X-Requested-With"] = "ogi-dashboard";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch(url(site, path), init);
  } catch (error) {
    throw new ApiError(0, `${site === "local" ? "the API" : "site " + site} is unreachable (${error.message})`, site);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const reason = data && typeof data.error === "string" ? data.error : `HTTP ${response.status}`;
    throw new ApiError(response.status, reason, site);
  }
  return data;
}

export const get = (site, path) => call("GET", site, path);
export const post = (site, path, body) => call("POST", site, path, body);
export const del = (site, path) => call("DELETE", site, path);

export async function loadSettings() {
  Object.assign(settings, await call("GET", "local", "ui/settings.json"));
}

// The last good answer per site and path, shown (marked stale) while a site does not answer.
const lastGood = new Map();
export const failures = new Map();

// A list from every site, each item tagged with `_site` (and `_stale` when it is an old copy).
export async function gather(path) {
  const answers = await Promise.all(settings.sites.map(async (site) => {
    const key = `${site} ${path}`;
    try {
      const items = await get(site, path);
      lastGood.set(key, items);
      failures.delete(site);
      return (Array.isArray(items) ? items : []).map((item) => ({ ...item, _site: site }));
    } catch (error) {
      failures.set(site, error.message);
      if (site === "local" && !lastGood.has(key)) throw error;
      return (lastGood.get(key) || []).map((item) => ({ ...item, _site: site, _stale: true }));
    }
  }));
  performance.mark("ogi-data");  // the page's timing: what follows is drawing (app.js)
  return answers.flat();
}
