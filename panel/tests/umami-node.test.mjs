// Umami's Node client (`@umami/node`, as published on npm, unchanged) sending
// server-side events to the ingest: no url, no hostname, its own user agent.
// Each must be counted exactly, on a site of its own (scripts/browser-test.sh
// creates it), so the browser tests' exact counts stay untouched.
import assert from "node:assert/strict";
import { test } from "node:test";

import { env, eventually, setting } from "./support.mjs";

const site = setting("NODE_SITE_ID");
const token = setting("NODE_SITE_TOKEN");

async function breakdown(dimension) {
  const qs = new URLSearchParams({ site, dimension });
  const response = await fetch(`${env.queryUrl}/api/analytics/breakdown/?${qs}`, {
    headers: { Authorization: `Bearer ${token}`, "X-Skip-Cache": "1" },
  });
  if (!response.ok) throw new Error(`breakdown ${dimension}: ${response.status} ${await response.text()}`);
  return (await response.json()).results;
}

test("@umami/node: an event without a page and a pageview are counted exactly", async () => {
  const { default: umami } = await import(setting("UMAMI_NODE"));
  umami.init({ websiteId: site, hostUrl: env.ingestUrl });
  const answers = [
    await umami.track("newsletter", { plan: "pro" }),
    await umami.track({ url: "/from-node", title: "Node" }),
    // Identify keeps session data, which we do not: answered, not counted.
    await umami.identify({ plan: "pro" }),
  ];
  for (const answer of answers) assert.equal(answer.status, 200, await answer.text());

  const events = await eventually("the event counted", async () => {
    const rows = await breakdown("event");
    return rows.length > 0 && rows;
  });
  assert.deepEqual(
    events.map((r) => [r.value, r.events, r.pageviews]),
    [["newsletter", 1, 0]],
  );
  const pages = await eventually("both counted under their pages", async () => {
    const rows = await breakdown("page");
    return rows.length === 2 && rows;
  });
  assert.deepEqual(
    pages.map((r) => [r.value, r.pageviews, r.events]).sort(),
    [["(none)", 0, 1], ["/from-node", 1, 0]],
  );
});
