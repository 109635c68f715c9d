// The panel's page load as a person meets it, measured in Chromium with the
// Navigation Timing API: "cold" is a fresh browser profile after the query
// service's cache was cleared (every figure computed from Postgres, every
// script fetched), "warm" the same page loaded again within the cache's
// lifetime. The ceiling is the panel's own health route in the same run: a
// Next.js answer with no work behind it.
//
// Run by the query benchmark (tests/e2e/benches/pipeline/query.rs) against a
// panel it started; prints one JSON object per view.
// Usage: node scripts/load-bench.mjs <panel url> <query url> <admin token> <runs> <path>...
import { chromium } from "playwright-core";

const [panelUrl, queryUrl, adminToken, runsText, ...paths] = process.argv.slice(2);
const runs = Number(runsText);
if (!panelUrl || !queryUrl || !adminToken || !(runs > 0) || paths.length === 0) {
  console.error("usage: load-bench.mjs <panel url> <query url> <admin token> <runs> <path>...");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

async function clearQueryCache() {
  const response = await fetch(`${queryUrl}/api/analytics/clear-cache/`, {
    method: "POST",
    headers: { Authorization: `Bearer ${adminToken}` },
  });
  if (!response.ok) throw new Error(`clear-cache: ${response.status}`);
}

/** The navigation's milestones in ms from its start: HTML received, page loaded. */
async function load(context, url) {
  const page = await context.newPage();
  try {
    const response = await page.goto(url, { waitUntil: "load" });
    if (!response?.ok()) throw new Error(`${url}: ${response?.status()}`);
    if (!url.includes("/api/") && (await page.getByTestId("error").count()) > 0) {
      throw new Error(`${url}: the dashboard shows an error: ${await page.getByTestId("error").innerText()}`);
    }
    return await page.evaluate(() => {
      const [nav] = performance.getEntriesByType("navigation");
      return { html: nav.responseEnd - nav.startTime, loaded: nav.loadEventEnd - nav.startTime };
    });
  } finally {
    await page.close();
  }
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(sorted.length * q))) - 1];
};
const summary = (samples, key) => ({
  p50: Number(quantile(samples.map((s) => s[key]), 0.5).toFixed(1)),
  p95: Number(quantile(samples.map((s) => s[key]), 0.95).toFixed(1)),
});

const browser = await chromium.launch({ executablePath });
try {
  // Warm-up: the Next.js server compiles nothing at run time, but its first
  // requests still fill its own caches; the ceiling and views start after.
  const warmup = await browser.newContext();
  await load(warmup, `${panelUrl}${paths[0]}`);
  await warmup.close();

  const ceiling = [];
  const health = await browser.newContext();
  for (let i = 0; i < runs; i++) ceiling.push(await load(health, `${panelUrl}/api/health`));
  await health.close();
  console.log(JSON.stringify({ view: "ceiling", html: summary(ceiling, "html") }));

  for (const path of paths) {
    const cold = [];
    const warm = [];
    for (let i = 0; i < runs; i++) {
      await clearQueryCache();
      const context = await browser.newContext();
      cold.push(await load(context, `${panelUrl}${path}`));
      warm.push(await load(context, `${panelUrl}${path}`));
      await context.close();
    }
    console.log(
      JSON.stringify({
        view: path,
        cold: { html: summary(cold, "html"), loaded: summary(cold, "loaded") },
        warm: { html: summary(warm, "html"), loaded: summary(warm, "loaded") },
      }),
    );
  }
} finally {
  await browser.close();
}
