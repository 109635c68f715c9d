// A table or the chart of the dashboard as a CSV download. The panel's
// server fetches it from the query service with the site's token, which never
// reaches the browser; only the names in EXPORTS are served (no open proxy).
import { type Period, exportCsv } from "@/lib/query";

export const dynamic = "force-dynamic";

const PERIODS: readonly Period[] = ["hourly", "daily", "weekly", "monthly"];

export async function GET(request: Request) {
  const url = new URL(request.url);
  const name = url.searchParams.get("table") ?? "";
  const asked = url.searchParams.get("period") ?? "daily";
  const period = PERIODS.find((p) => p === asked) ?? "daily";
  const result = await exportCsv(name, period, url.searchParams.get("site") ?? undefined);
  if ("error" in result) return Response.json({ error: result.error }, { status: result.status });
  const filename = name === "chart" ? `chart-${period}.csv` : `${name}.csv`;
  return new Response(result.csv, {
    headers: {
      "Content-Type": "text/csv; charset=utf-8",
      "Content-Disposition": `attachment; filename="${filename}"`,
      "Cache-Control": "no-store",
    },
  });
}
