"use server";

import { clearQueryCache } from "@/lib/query";

export type ClearResult = { ok: true; generation: number } | { ok: false; error: string };

/** Runs on the panel's server: the admin token stays there. */
export async function clearCache(): Promise<ClearResult> {
  try {
    const { generation } = await clearQueryCache();
    return { ok: true, generation };
  } catch (error) {
    console.error("clear-cache failed:", error);
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}
