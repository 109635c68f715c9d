// The standalone panel's login (PANEL_PASSWORD), against a second panel that
// scripts/browser-test.sh starts with a random password: without a session
// pages go to the login page and the API answers 401; a wrong password is
// refused; the right one leads back to the page asked for with an HttpOnly
// session cookie, which cannot be forged; Persian is right to left; repeated
// wrong passwords are slowed down.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { chromium } from "playwright-core";

import { env, setting } from "./support.mjs";

const panel = setting("PANEL_LOGIN_URL").replace(/\/$/, "");
const password = setting("PANEL_PASSWORD");
const COOKIE = "panel_session";

let browser;

before(async () => {
  browser = await chromium.launch({ executablePath: env.chromium });
});

after(async () => browser?.close());

/** Runs `fn` with a page of a fresh browser context: no cookies. */
async function withPage(fn) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    return await fn(page, context);
  } finally {
    await context.close();
  }
}

const sessionCookie = async (context) => (await context.cookies(panel)).find((c) => c.name === COOKIE);

/** Types `text` into the login form and sends it; resolves once the server answered. */
async function submit(page, text) {
  await page.getByTestId("login-password").fill(text);
  const answered = page.waitForResponse((r) => r.request().method() === "POST" && r.url().startsWith(panel));
  await page.getByTestId("login-submit").click();
  await answered;
}

/** The error the form shows once it is ready again (the button is disabled while the action runs). */
async function shownError(page) {
  await page.waitForFunction(
    () => document.querySelector('[data-testid="login-submit"]')?.disabled === false && document.querySelector('[data-testid="login-error"]'),
  );
  return page.getByTestId("login-error").innerText();
}

/** The panel's answer to a request with this session cookie, not following redirects. */
const withCookie = (path, value) => fetch(`${panel}${path}`, { headers: { Cookie: `${COOKIE}=${value}` }, redirect: "manual" });

describe("login", { concurrency: false }, () => {
  test("without a session the dashboard sends to the login page, keeping the page asked for", async () => {
    await withPage(async (page) => {
      await page.goto(`${panel}/en?compare=previous_period`);
      await page.waitForURL((url) => url.pathname === "/en/login");
      assert.equal(new URL(page.url()).searchParams.get("next"), "/en?compare=previous_period");
      assert.ok(await page.getByTestId("login").isVisible(), "the login form");
      assert.equal(await page.getByTestId("dashboard").count(), 0, "no dashboard");
      assert.equal(await page.locator("html").getAttribute("dir"), "ltr");
    });
  });

  test("a wrong password is refused: the error is shown and no cookie set", async () => {
    await withPage(async (page, context) => {
      await page.goto(`${panel}/en/login`);
      await submit(page, `${password}-wrong`);
      assert.equal(await shownError(page), "Wrong password");
      assert.equal(new URL(page.url()).pathname, "/en/login");
      assert.equal(await sessionCookie(context), undefined, "no session cookie");
      assert.equal(await page.getByTestId("dashboard").count(), 0);
    });
  });

  test("the API answers 401 without a session; the health probe stays open", async () => {
    const response = await fetch(`${panel}/api/export?table=top-pages`, { redirect: "manual" });
    assert.equal(response.status, 401);
    assert.deepEqual(await response.json(), { error: "login required" });
    assert.equal((await fetch(`${panel}/api/health`)).status, 200);
  });

  test("the right password leads to the page asked for, with an HttpOnly session cookie that cannot be forged", async () => {
    const value = await withPage(async (page, context) => {
      await page.goto(`${panel}/en?compare=previous_period`);
      await page.waitForURL((url) => url.pathname === "/en/login");
      await submit(page, password);
      await page.waitForURL((url) => url.pathname === "/en" && url.searchParams.get("compare") === "previous_period");
      await page.getByTestId("dashboard").waitFor();

      const cookie = await sessionCookie(context);
      assert.ok(cookie, "session cookie set");
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, "Lax");
      assert.equal(cookie.path, "/");
      assert.equal(cookie.secure, false, "plain http here: Secure only behind https");
      const days = (cookie.expires * 1000 - Date.now()) / 86_400_000;
      assert.ok(days > 6.9 && days <= 7, `a week's session, not ${days.toFixed(2)} days`);
      assert.equal(await page.evaluate(() => document.cookie.includes("panel_session")), false, "hidden from scripts");
      // The session opens the API too.
      const csv = await page.request.get(`${panel}/api/export?table=top-pages`);
      assert.notEqual(csv.status(), 401, await csv.text());
      return cookie.value;
    });

    // The cookie works outside the browser as well...
    assert.equal((await withCookie("/en", value)).status, 200);
    // ...but not once changed: another expiry, another signature, made up.
    const [expires, mac] = value.split(".");
    const forged = [
      `${Number(expires) - 60}.${mac}`,
      `${expires}.${mac[0] === "A" ? "B" : "A"}${mac.slice(1)}`,
      `${expires}.${"A".repeat(43)}`,
      "9999999999.x",
      "",
    ];
    for (const bad of forged) {
      const page = await withCookie("/en", bad);
      assert.equal(page.status, 307, `page with cookie ${JSON.stringify(bad)}`);
      assert.match(page.headers.get("location"), /\/en\/login\?next=%2Fen$/);
      assert.equal((await withCookie("/api/export?table=top-pages", bad)).status, 401, `API with cookie ${JSON.stringify(bad)}`);
    }
  });

  test("after the login only this panel's own paths are followed (no open redirect)", async () => {
    for (const next of ["//evil.example/x", "/\\evil.example/x", "https://evil.example/x"]) {
      await withPage(async (page) => {
        await page.goto(`${panel}/en/login?next=${encodeURIComponent(next)}`);
        await submit(page, password);
        await page.waitForURL((url) => url.pathname === "/en", { timeout: 10_000 });
        assert.equal(new URL(page.url()).origin, panel, `next=${next}`);
      });
    }
  });

  test("in Persian the login page is right to left, in Persian", async () => {
    await withPage(async (page) => {
      await page.goto(`${panel}/fa`);
      await page.waitForURL((url) => url.pathname === "/fa/login");
      assert.equal(await page.locator("html").getAttribute("dir"), "rtl");
      assert.equal(await page.locator("html").getAttribute("lang"), "fa");
      assert.match(await page.getByTestId("login").innerText(), /رمز عبور/);
      await submit(page, `${password}-wrong`);
      assert.equal(await shownError(page), "رمز عبور نادرست است");
    });
  });

  // Last: it leaves this client address blocked for a minute.
  test("after 5 wrong passwords in a minute even the right one must wait", async () => {
    await withPage(async (page, context) => {
      await page.goto(`${panel}/en/login`);
      // The tests above may have spent some of the five (a success starts the count again).
      const shown = [];
      for (let attempt = 0; attempt < 6 && !/try again/.test(shown.at(-1)); attempt++) {
        await submit(page, `${password}-wrong-${attempt}`);
        shown.push(await shownError(page));
      }
      assert.match(shown.at(-1), /^Too many attempts: try again in \d+ s$/, shown.join(" | "));
      assert.ok(shown.slice(0, -1).every((text) => text === "Wrong password"), shown.join(" | "));
      await submit(page, password);
      assert.match(await shownError(page), /^Too many attempts: try again in \d+ s$/);
      assert.equal(await sessionCookie(context), undefined, "still no session");
    });
  });
});
