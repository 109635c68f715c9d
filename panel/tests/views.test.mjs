// Browser tests of the dashboard's period, as its URL holds it: presets and
// custom ranges (from the picker, in Gregorian and Solar Hijri calendars),
// the traffic source, a segment (filter chips), a day drawn by the hour, and figures too big for a card.
// scripts/browser-test.sh makes the sites: RANGE_SITE_ID, in a time zone where
// it is around noon, with pageviews yesterday on one page and today on
// another; BIG_SITE_ID with over a million pageviews a day; KEPT_SITE_ID with
// a goal (signup) and a saved funnel ("Pricing to signup").
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { chromium } from "playwright-core";

import { USER_AGENTS, env, eventually, setting } from "./support.mjs";

const rangeSite = setting("RANGE_SITE_ID");
const rangeZone = setting("RANGE_TIMEZONE");
const bigSite = setting("BIG_SITE_ID");
const importSite = setting("IMPORT_SITE_ID");
const importDay = setting("IMPORT_DAY");
const adminToken = setting("ADMIN_TOKEN");
const keptSite = setting("KEPT_SITE_ID");

/** The local date of `at` in the range site's zone, YYYY-MM-DD (en-CA writes it so). */
const localDate = (at) => new Intl.DateTimeFormat("en-CA", { timeZone: rangeZone }).format(at);
const HOUR = 3_600_000;
// Around noon there: 14 hours ago was yesterday evening, half an hour ago today.
const yesterdayAt = new Date(Date.now() - 14 * HOUR);
const todayAt = new Date(Date.now() - HOUR / 2);
const YESTERDAY = localDate(yesterdayAt);
const TODAY = localDate(todayAt);
const PAGES = { yesterday: "/only-yesterday", today: "/only-today" };

let browser;
let context;
let page;

async function adminQuery(path, params) {
  const qs = new URLSearchParams({ ...params });
  const response = await fetch(`${env.queryUrl}/api/analytics/${path}/?${qs}`, {
    headers: { Authorization: `Bearer ${adminToken}`, "X-Skip-Cache": "1" },
  });
  if (!response.ok) throw new Error(`query ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

before(async () => {
  assert.notEqual(YESTERDAY, TODAY, `${rangeZone}: 14 hours ago must be yesterday`);
  // Two pageviews yesterday, three today, from a server (the native API takes timestamps up to a day back).
  const view = (at, path, n) =>
    Array.from({ length: n }, (_, i) => ({ site: rangeSite, type: "pageview", path, timestamp: at.getTime() + i }));
  const response = await fetch(`${env.ingestUrl}/v1/events`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "User-Agent": USER_AGENTS.ours },
    body: JSON.stringify({ events: [...view(yesterdayAt, PAGES.yesterday, 2), ...view(todayAt, PAGES.today, 3)] }),
  });
  assert.equal(response.status, 202, await response.text());
  await eventually("the five pageviews counted", async () => (await adminQuery("overview", { site: rangeSite })).total.pageviews === 5);
  browser = await chromium.launch({ executablePath: env.chromium });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(5_000);
});

after(async () => {
  await context?.close();
  await browser?.close();
});

const dataOf = (locator, name) => locator.getAttribute(`data-${name}`).then(Number);
const shownPaths = () =>
  page.getByTestId("top-pages-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-path")).sort());

describe("the period in the URL", { concurrency: false }, () => {
  test("days imported from the old Django table are noted under the chart, in English and Persian", async () => {
    await page.goto(`${env.panelUrl}/en?site=${importSite}`);
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 5);
    assert.match(await page.getByTestId("imported-note").textContent(), /imported from the old Django system/);
    await page.goto(`${env.panelUrl}/fa?site=${importSite}`);
    assert.match(await page.getByTestId("imported-note").textContent(), /سامانهٔ قبلی جنگو/);
    // A range that holds none of the imported days has no note.
    await page.goto(`${env.panelUrl}/en?site=${importSite}&from=${TODAY}&to=${TODAY}`);
    assert.equal(await page.getByTestId("imported-note").count(), 0);
    const overview = await adminQuery("overview", { site: importSite });
    assert.deepEqual(
      overview.imported.map((r) => [r.source, r.first_day, r.last_day, r.rows]),
      [["django", importDay, importDay, 5]],
    );
  });

  test("from/to of one day shows exactly that day's pages, by the hour", async () => {
    await page.goto(`${env.panelUrl}/en?site=${rangeSite}&from=${YESTERDAY}&to=${YESTERDAY}`);
    assert.deepEqual(await shownPaths(), [PAGES.yesterday]);
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 2);
    assert.equal(await page.getByTestId("chart").getAttribute("data-period"), "hourly");
    assert.equal(await page.getByTestId("chart-point").count(), 24, "a day is 24 bars");

    await page.goto(`${env.panelUrl}/en?site=${rangeSite}&from=${TODAY}&to=${TODAY}`);
    assert.deepEqual(await shownPaths(), [PAGES.today]);
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 3);
    const hours = await page.getByTestId("chart-point").evaluateAll((ps) => ps.map((p) => Number(p.getAttribute("data-pageviews"))));
    assert.equal(hours.length, 24);
    assert.equal(hours.reduce((a, b) => a + b, 0), 3, "today's pageviews, spread over its hours");
  });

  test("the picker's presets change the URL and the figures", async () => {
    await page.goto(`${env.panelUrl}/en?site=${rangeSite}`);
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 5, "the last 30 days by default");
    await page.getByTestId("preset-yesterday").click();
    await page.waitForURL((url) => url.searchParams.get("range") === "yesterday");
    assert.deepEqual(await shownPaths(), [PAGES.yesterday]);
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 2);
    await page.getByTestId("preset-today").click();
    await page.waitForURL((url) => url.searchParams.get("range") === "today");
    assert.deepEqual(await shownPaths(), [PAGES.today]);
    // The other choices ride along.
    await page.getByTestId("compare").getByText("With the period before").click();
    await page.waitForURL((url) => url.searchParams.get("compare") === "previous_period" && url.searchParams.get("range") === "today");
    const change = page.getByTestId("card-range").getByTestId("change");
    assert.equal(await dataOf(change, "previous"), 2, "today against yesterday");
    assert.equal(await dataOf(change, "percent"), 50);
    assert.match(await page.getByTestId("top-pages").getByTestId("export").getAttribute("href"), /range=today/);
  });

  test("a custom range picked on the calendar", async () => {
    await page.goto(`${env.panelUrl}/en?site=${rangeSite}&range=7d`);
    await page.getByTestId("picker-open").click();
    await page.locator(`[data-testid="picker-day"][data-date="${YESTERDAY}"]`).click();
    await page.locator(`[data-testid="picker-day"][data-date="${TODAY}"]`).click();
    await page.waitForURL((url) => url.searchParams.get("from") === YESTERDAY && url.searchParams.get("to") === TODAY);
    assert.equal(new URL(page.url()).searchParams.get("range"), null, "a custom range replaces the preset");
    assert.deepEqual(await shownPaths(), [PAGES.yesterday, PAGES.today].sort());
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 5);
    // Two days: hourly is offered, daily is drawn.
    assert.equal(await page.getByTestId("chart-point").count(), 2);
  });

  test("in Persian the picker is a Solar Hijri calendar, weeks from Saturday, Persian digits", async () => {
    await page.goto(`${env.panelUrl}/fa?site=${rangeSite}`);
    await page.getByTestId("picker-open").click();
    const title = await page.getByTestId("picker-month").innerText();
    const persianMonths = ["فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند"];
    assert.ok(persianMonths.some((m) => title.includes(m)) && /[۰-۹]{4}/.test(title), `month title: ${title}`);
    const today = page.locator(`[data-testid="picker-day"][data-date="${TODAY}"]`);
    const persianDay = new Intl.DateTimeFormat("fa-IR-u-ca-persian", { day: "numeric", timeZone: "UTC" }).format(new Date(`${TODAY}T12:00:00Z`));
    assert.equal((await today.innerText()).trim(), persianDay);
    // The first day of a week row is a Saturday.
    const firstOfRow = await page.locator('[data-testid="picker-day"]').evaluateAll((days) =>
      days
        .filter((d) => d.closest("td")?.previousElementSibling === null)
        .map((d) => new Date(`${d.getAttribute("data-date")}T12:00:00Z`).getUTCDay()),
    );
    assert.ok(firstOfRow.length > 0 && firstOfRow.every((day) => day === 6), `rows start on: ${firstOfRow}`);
    await page.getByTestId("preset-yesterday").click();
    await page.waitForURL((url) => url.searchParams.get("range") === "yesterday");
    assert.deepEqual(await shownPaths(), [PAGES.yesterday]);
  });

  test("the source filter reaches every figure", async () => {
    await page.goto(`${env.panelUrl}/en?site=${rangeSite}&source=app`);
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 0, "no app traffic");
    assert.equal(await page.getByTestId("top-pages-row").count(), 0);
    await page.getByTestId("source").getByText("Web", { exact: true }).click();
    await page.waitForURL((url) => url.searchParams.get("source") === "web");
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 5);
  });

  test("a row narrows every figure to its segment, shown as a chip that removes it", async () => {
    await page.goto(`${env.panelUrl}/en?site=${rangeSite}`);
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 5);
    const today = page.locator(`[data-testid="top-pages-row"][data-path="${PAGES.today}"]`);
    await today.getByTestId("top-pages-filter").click();
    await page.waitForURL((url) => url.searchParams.getAll("filter").includes(`page==${PAGES.today}`));
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 3, "only the page's pageviews");
    assert.deepEqual(await shownPaths(), [PAGES.today]);
    assert.equal(await page.getByTestId("filter-chip").getAttribute("data-filter"), `page==${PAGES.today}`);
    // In Persian, the same segment from the URL.
    await page.goto(`${env.panelUrl}/fa?site=${rangeSite}&filter=${encodeURIComponent(`page==${PAGES.yesterday}`)}`);
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 2);
    await page.getByTestId("remove-filter").click();
    await page.waitForURL((url) => url.searchParams.getAll("filter").length === 0);
    assert.equal(await page.getByTestId("filter-chip").count(), 0);
    assert.equal(await dataOf(page.getByTestId("card-range"), "pageviews"), 5);
  });

  test("seven-digit figures shorten and stay inside their cards at 1400 px, in English and Persian", async () => {
    const wide = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    try {
      const big = await wide.newPage();
      for (const [lang, pattern] of [
        ["en", /^\d+(\.\d+)?M$/],
        ["fa", /^[۰-۹]+(٫[۰-۹]+)?\s?میلیون$/], // Intl puts a no-break space before the word
      ]) {
        await big.goto(`${env.panelUrl}/${lang}?site=${bigSite}`);
        const total = big.getByTestId("card-total");
        assert.ok((await dataOf(total, "pageviews")) >= 1_000_000, "over a million pageviews");
        assert.match(await total.getByTestId("pageviews").innerText(), pattern);
        const outside = await big.evaluate(() =>
          [...document.querySelectorAll('[data-testid^="card-"] *')]
            .filter((e) => {
              const card = e.closest('[data-testid^="card-"]').getBoundingClientRect();
              const box = e.getBoundingClientRect();
              return box.width > 0 && (box.right > card.right + 0.5 || box.left < card.left - 0.5);
            })
            .map((e) => `${e.closest('[data-testid^="card-"]').dataset.testid} ${e.tagName.toLowerCase()} "${e.textContent.slice(0, 20)}"`),
        );
        assert.deepEqual(outside, [], `${lang}: figures outside their card`);
      }
    } finally {
      await wide.close();
    }
  });
});

describe("goals, properties and funnels", { concurrency: false }, () => {
  test("each in its tab, from the URL, in English and Persian", async () => {
    // Visitor a views /pricing and signs up (plan pro); b views /pricing and /;
    // c views / and signs up (plan free), without /pricing before.
    const at = Date.now() - 60_000;
    const event = (visitor, i, fields) => ({ site: keptSite, visitor, timestamp: at + i * 1000, ...fields });
    const events = [
      event("a", 0, { type: "pageview", path: "/pricing" }),
      event("a", 1, { type: "event", name: "signup", path: "/pricing", props: { plan: "pro" } }),
      event("b", 2, { type: "pageview", path: "/pricing" }),
      event("b", 3, { type: "pageview", path: "/" }),
      event("c", 4, { type: "pageview", path: "/" }),
      event("c", 5, { type: "event", name: "signup", path: "/", props: { plan: "free" } }),
    ];
    const response = await fetch(`${env.ingestUrl}/v1/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "User-Agent": USER_AGENTS.ours },
      body: JSON.stringify({ events }),
    });
    assert.equal(response.status, 202, await response.text());
    await eventually("the six events counted", async () => {
      const total = (await adminQuery("overview", { site: keptSite })).total;
      return total.pageviews === 4 && total.events === 2;
    });

    // Goals, the default tab: 2 of the 3 visitors signed up.
    await page.goto(`${env.panelUrl}/en?site=${keptSite}`);
    const goal = page.locator('[data-testid="goals-row"][data-goal="signup"]');
    assert.equal(await dataOf(goal, "visitors"), 2);
    assert.equal(await dataOf(goal, "rate"), 66.67);

    // Properties: the most used key's values; one is a segment link.
    await page.getByTestId("tab").getByText("Properties").click();
    await page.waitForURL((url) => url.searchParams.get("tab") === "properties");
    const values = () =>
      page.getByTestId("prop-values-row").evaluateAll((rows) => rows.map((r) => [r.getAttribute("data-value"), Number(r.getAttribute("data-events"))]).sort());
    assert.deepEqual(await values(), [["free", 1], ["pro", 1]]);
    await page.locator('[data-testid="prop-values-row"][data-value="pro"]').getByTestId("prop-values-filter").click();
    await page.waitForURL((url) => url.searchParams.getAll("filter").includes("prop:plan==pro"));
    assert.equal(await dataOf(page.getByTestId("card-range"), "events"), 1, "the segment of plan pro");
    assert.equal(new URL(page.url()).searchParams.get("tab"), "properties", "the tab stays open");

    // Funnels: the saved one, by step, in both languages.
    for (const lang of ["en", "fa"]) {
      await page.goto(`${env.panelUrl}/${lang}?site=${keptSite}&tab=funnels`);
      assert.equal(await page.getByTestId("funnel").getAttribute("data-name"), "Pricing to signup");
      const steps = await page
        .getByTestId("funnel-step")
        .evaluateAll((rows) => rows.map((r) => [r.getAttribute("data-step"), Number(r.getAttribute("data-visitors")), Number(r.getAttribute("data-dropoff"))]));
      assert.deepEqual(steps, [["page==/pricing", 2, 0], ["event==signup", 1, 1]], lang);
    }
    assert.match(await page.getByTestId("tab").innerText(), /قیف‌ها/);
  });
});
