// What the browser tests share: their settings, a server for the test pages
// (one small single-page app per tracker), the query API, and polling.
import { readFile } from "node:fs/promises";
import http from "node:http";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") throw new Error(`browser tests: ${name} is not set (run scripts/browser-test.sh)`);
  return value;
}

export const env = {
  panelUrl: setting("PANEL_URL").replace(/\/$/, ""),
  ingestUrl: setting("INGEST_URL").replace(/\/$/, ""),
  queryUrl: setting("QUERY_URL").replace(/\/$/, ""),
  site: setting("SITE_ID"),
  domain: setting("SITE_DOMAIN"),
  token: setting("SITE_TOKEN"),
  chromium: setting("CHROMIUM", "/usr/bin/chromium"),
  screenshots: setting("SCREENSHOT_DIR"),
  umamiTracker: setting("UMAMI_TRACKER"),
};

/** Real browsers' user agents: the aggregator drops HeadlessChrome as a bot. */
export const USER_AGENTS = {
  ours: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
  plausible:
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Mobile Safari/537.36",
  umami: "Mozilla/5.0 (X11; Linux x86_64; rv:141.0) Gecko/20100101 Firefox/141.0",
};

/**
 * The pages each tracker's app shows: a first page, then two client-side
 * navigations (History API), with Persian titles and non-ASCII paths (on the
 * page loaded by the browser and on one reached by the router).
 * `path` is what the browser has in location.pathname (percent-encoded),
 * which is also what the query service answers.
 */
export function pagesOf(tracker) {
  const pages = [
    { href: `/t/${tracker}/خانه`, title: `صفحهٔ آزمایشی ${tracker}: خانه` },
    { href: `/t/${tracker}/مقاله/یک`, title: `مقالهٔ یک — «${tracker}»` },
    { href: `/t/${tracker}/about`, title: `دربارهٔ ما (${tracker}) & more` },
  ];
  return pages.map((p) => ({ ...p, path: new URL(p.href, "http://x").pathname }));
}

export const EVENT_NAMES = { ours: "signup", plausible: "plausible-signup", umami: "umami-signup" };

const escape = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function html({ title, head, body = "" }) {
  title = escape(title);
  return `<!doctype html>
<html lang="fa" dir="rtl">
<head>
<meta charset="utf-8">
<title>${title}</title>
${head}
</head>
<body>
<h1 id="heading">${title}</h1>
<p>Test page of the analytics browser tests.</p>
${body}
<script>
  // The app's router: new title, then the History API, as SPA routers do.
  window.navigateTo = (href, title) => {
    document.title = title;
    document.getElementById("heading").textContent = title;
    history.pushState({}, "", href);
  };
</script>
</body>
</html>`;
}

function pageFor(tracker, title) {
  switch (tracker) {
    case "ours":
      return html({
        title,
        head: `<script defer src="${env.ingestUrl}/js/script.js" data-site="${env.site}" data-allow-localhost></script>`,
        body: `<script>window.customEvent = () => window.analytics("${EVENT_NAMES.ours}", { plan: "pro" });</script>`,
      });
    case "plausible":
      // Plausible's npm tracker, as its README shows, pointed at our ingest.
      return html({
        title,
        head: `<script type="module">
  import { init, track } from "/vendor/plausible.js";
  init({ domain: ${JSON.stringify(env.domain)}, endpoint: ${JSON.stringify(env.ingestUrl + "/api/event")} });
  window.customEvent = () => track(${JSON.stringify(EVENT_NAMES.plausible)}, { props: { plan: "pro" } });
</script>`,
      });
    case "umami":
      // Umami's tracker script, as Umami serves it, pointed at our ingest.
      return html({
        title,
        head: `<script defer src="/vendor/umami.js" data-website-id="${env.site}" data-host-url="${env.ingestUrl}"></script>`,
        body: `<script>window.customEvent = () => window.umami.track(${JSON.stringify(EVENT_NAMES.umami)}, { plan: "pro" });</script>`,
      });
    default:
      return null;
  }
}

/** Serves the test pages on 127.0.0.1; the browser reaches it as http://<site domain>:<port>. */
export async function startPageServer() {
  const plausible = await readFile(require.resolve("@plausible-analytics/tracker"), "utf8");
  const umami = await readFile(env.umamiTracker, "utf8");
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const send = (status, type, body) => {
      res.writeHead(status, { "Content-Type": `${type}; charset=utf-8`, "Cache-Control": "no-store" });
      res.end(body);
    };
    if (url.pathname === "/vendor/plausible.js") return send(200, "text/javascript", plausible);
    if (url.pathname === "/vendor/umami.js") return send(200, "text/javascript", umami);
    const match = url.pathname.match(/^\/t\/([a-z]+)\//);
    const tracker = match?.[1];
    const page = tracker && pagesOf(tracker).find((p) => p.path === url.pathname);
    const body = page && pageFor(tracker, page.title);
    if (body) return send(200, "text/html", body);
    return send(404, "text/plain", "not found");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { server, origin: `http://${env.domain}:${port}` };
}

/** GET from the query service with the site's token; `fresh` bypasses its cache (X-Skip-Cache). */
export async function query(path, params = {}, { fresh = true } = {}) {
  const qs = new URLSearchParams({ site: env.site, ...params });
  const headers = { Authorization: `Bearer ${env.token}` };
  if (fresh) headers["X-Skip-Cache"] = "1";
  const response = await fetch(`${env.queryUrl}/api/analytics/${path}/?${qs}`, { headers });
  if (!response.ok) throw new Error(`query ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Polls `probe` until it returns a truthy value or the deadline passes; the last value is in the error. */
export async function eventually(what, probe, { timeoutMs = 30_000, intervalMs = 250 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not reached within ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
