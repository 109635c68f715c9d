"use server";

import { cookies } from "next/headers";

import { clearQueryCache } from "@/lib/query";
import { RateLimit } from "@/lib/rate-limit";
import { SESSION_COOKIE, signedIn } from "@/lib/session";

export type ClearResult = { ok: true; generation: number } | { ok: false; error: string };

// Every click empties the query service's cache for everyone and makes the
// next dashboards read Postgres: a few a minute per panel process is plenty.
// PANEL_CLEAR_CACHE_PER_MINUTE changes it (the browser tests click more often).
const perMinute = Number(process.env.PANEL_CLEAR_CACHE_PER_MINUTE) || 3;
const clearLimit = new RateLimit("clear-cache", perMinute, 60_000);

/** Runs on the panel's server: the admin token stays there. */
export async function clearCache(): Promise<ClearResult> {
  // Server actions can be called directly: the proxy's login gate is not the
  // only check (with PANEL_PASSWORD unset this passes, as before).
  if (!(await signedIn((await cookies()).get(SESSION_COOKIE)?.value))) return { ok: false, error: "login required" };
  const wait = clearLimit.take("all");
  if (wait > 0) return { ok: false, error: `at most ${perMinute} times a minute, try again in ${wait} s` };
  try {
    const { generation } = await clearQueryCache();
    return { ok: true, generation };
  } catch (error) {
    console.error("clear-cache failed:", error);
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}
