import type { Metadata } from "next";
import { notFound, redirect } from "next/navigation";

import { LoginForm } from "@/components/LoginForm";
import { isLang, texts } from "@/lib/i18n";
import { passwordRequired } from "@/lib/session";

// PANEL_PASSWORD is read when the page is asked for, not at build time.
export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ lang: string }> }): Promise<Metadata> {
  const { lang } = await params;
  return isLang(lang) ? { title: `${texts(lang).login.title} · ${texts(lang).title}` } : {};
}

/** The standalone panel's login (src/proxy.ts sends every request without a session here). */
export default async function LoginPage(props: {
  params: Promise<{ lang: string }>;
  searchParams: Promise<{ next?: string | string[] }>;
}) {
  const { lang } = await props.params;
  if (!isLang(lang)) notFound();
  // Without a password there is nothing to sign in to.
  if (!passwordRequired()) redirect(`/${lang}`);
  const { next } = await props.searchParams;
  const t = texts(lang);
  return (
    <main className="dashboard" style={{ maxInlineSize: 420 }}>
      <h1>{t.title}</h1>
      <LoginForm
        lang={lang}
        next={typeof next === "string" ? next : ""}
        labels={{ title: t.login.title, password: t.login.password, submit: t.login.submit }}
      />
    </main>
  );
}
