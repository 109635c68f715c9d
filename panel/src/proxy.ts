// The login gate of the standalone panel (Next.js "proxy", formerly
// middleware): when PANEL_PASSWORD is set, a request without a valid session
// cookie goes to /{lang}/login, or gets a 401 where a page makes no sense.
// Without PANEL_PASSWORD it lets everything through (`make up` then binds the
// panel to 127.0.0.1 only). Server actions are POSTs to page paths, so they
// pass here too; they still check the session themselves (src/app/actions.ts).
import { type NextRequest, NextResponse } from "next/server";

import { SESSION_COOKIE, passwordRequired, validSession } from "@/lib/session";

/** Reachable without a session: the health probe and the login page itself. */
function open(pathname: string): boolean {
  return pathname === "/api/health" || /^\/(en|fa)\/login\/?$/.test(pathname);
}

export async function proxy(request: NextRequest) {
  const { pathname, search } = request.nextUrl;
  if (!passwordRequired() || open(pathname)) return NextResponse.next();
  if (await validSession(request.cookies.get(SESSION_COOKIE)?.value)) return NextResponse.next();

  if (pathname.startsWith("/api/")) return Response.json({ error: "login required" }, { status: 401 });

  const lang = /^\/fa(\/|$)/.test(pathname) ? "fa" : "en";
  const back = new URLSearchParams(search);
  back.delete("_rsc"); // Next's cache-busting parameter of client navigations
  const next = pathname + (back.size ? `?${back}` : "");
  const login = new URL(`/${lang}/login`, request.url);
  login.searchParams.set("next", next);

  if (request.headers.has("next-action")) {
    // A server action (Clear cache) after the session ended: a plain redirect
    // would be followed by the action's fetch; this header is how Next's
    // client is told to navigate to another page instead.
    return new Response("login required", {
      status: 401,
      headers: { "Content-Type": "text/plain", "x-action-redirect": `${login.pathname}${login.search};replace` },
    });
  }
  return NextResponse.redirect(login);
}

export const config = {
  // Next's static files and the icon need no session (they hold no data).
  matcher: ["/((?!_next/static|_next/image|favicon.ico).*)"],
};
