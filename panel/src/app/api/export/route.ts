// A table or the chart of the dashboard as a CSV download, for the period
// the dashboard shows (the same URL parameters). The panel's server fetches
// it from the query service with the site's token, which never reaches the
// browser; only the names in EXPORTS are served (no open proxy).
import { exportCsv, siteToday } from "@/lib/query";
import { type Search, parseView, viewRange } from "@/lib/view";

export const dynamic = "force-dynamic";

export async function GET(request: Request) {
  const url = new URL(request.url);
  const name = url.searchParams.get("table") ?? "";
  const view = parseView("en", { ...(Object.fromEntries(url.searchParams) as Search), filter: url.searchParams.getAll("filter") });
  try {
    const range = viewRange(view, await siteToday(view.site));
    const result = await exportCsv(name, view, range);
    if ("error" in result) return Response.json({ error: result.error }, { status: result.status });
    return new Response(result.csv, {
      headers: {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": `attachment; filename="${name}-${range.from}-${range.to}.csv"`,
        "Cache-Control": "no-store",
      },
    });
  } catch (error) {
    console.error("export:", error);
    return Response.json({ error: "the query service did not answer" }, { status: 502 });
  }
}
