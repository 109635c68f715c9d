"use server";

// Sign in and out of the standalone panel (PANEL_PASSWORD, src/lib/session.ts).

import { cookies, headers } from "next/headers";
import { redirect } from "next/navigation";

import { type Lang, formatNumber, isLang, texts } from "@/lib/i18n";
import { RateLimit } from "@/lib/rate-limit";
import { SESSION_COOKIE, SESSION_SECONDS, createSession, passwordMatches, passwordRequired } from "@/lib/session";

export type LoginState = { error: string | null };

// Wrong passwords: 5 a minute per client address, and 30 a minute in all,
// since a client that reaches the panel directly can forge X-Forwarded-For.
const failuresPerClient = new RateLimit("login-failures", 5, 60_000);
const failuresInAll = new RateLimit("login-failures-all", 30, 60_000);

function langOf(form: FormData): Lang {
  const value = form.get("lang");
  return typeof value === "string" && isLang(value) ? value : "en";
}

/** Where to go once signed in: a path of this panel, never another site (no open redirect). */
function localTarget(next: FormDataEntryValue | null, lang: Lang): string {
  if (typeof next === "string" && next.startsWith("/") && !next.startsWith("//")) {
    // Browsers read "/\evil.example" (and "/<tab>/evil.example") as another
    // host: parse it as they would and keep it only if it stays here.
    const here = "http://panel.invalid";
    try {
      const url = new URL(next, here);
      if (url.origin === here) return url.pathname + url.search;
    } catch {
      // not a URL: the dashboard instead
    }
  }
  return `/${lang}`;
}

async function request() {
  const h = await headers();
  // The last address is the one the nearest proxy saw (Next.js adds the
  // socket's address when no proxy sent the header).
  const forwardedFor = (h.get("x-forwarded-for") ?? "").split(",").map((a) => a.trim()).filter(Boolean);
  return {
    client: forwardedFor.at(-1) ?? "unknown",
    // Next.js sets x-forwarded-proto itself when no proxy did.
    https: h.get("x-forwarded-proto")?.split(",")[0].trim() === "https",
  };
}

/** The login form's action (useActionState): an error to show, or a redirect with the session cookie set. */
export async function login(_previous: LoginState, form: FormData): Promise<LoginState> {
  const lang = langOf(form);
  if (!passwordRequired()) redirect(`/${lang}`);
  const t = texts(lang).login;
  const { client, https } = await request();
  const wait = Math.max(failuresPerClient.wait(client), failuresInAll.wait("all"));
  if (wait > 0) return { error: t.wait(formatNumber(lang, wait)) };

  const password = form.get("password");
  if (typeof password !== "string" || !(await passwordMatches(password))) {
    failuresPerClient.hit(client);
    failuresInAll.hit("all");
    return { error: t.wrong };
  }
  failuresPerClient.reset(client);
  (await cookies()).set(SESSION_COOKIE, await createSession(), {
    httpOnly: true,
    sameSite: "lax",
    path: "/",
    secure: https,
    maxAge: SESSION_SECONDS,
  });
  redirect(localTarget(form.get("next"), lang));
}

/** Ends the session (LogoutButton's form). */
export async function logout(form: FormData): Promise<void> {
  (await cookies()).delete(SESSION_COOKIE);
  redirect(`/${langOf(form)}/login`);
}
