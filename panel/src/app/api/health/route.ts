// Liveness of the panel itself, for start-up scripts: it does not call the
// query service, so probing it leaves the service's cache alone.
export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ ok: true });
}
