import { notFound } from "next/navigation";

import { Dashboard } from "@/components/Dashboard";
import { isLang } from "@/lib/i18n";
import { type Search, parseView, viewHref } from "@/lib/view";

// Numbers are read on every request; the query service has its own cache.
export const dynamic = "force-dynamic";

export default async function Page(props: { params: Promise<{ lang: string }>; searchParams: Promise<Search> }) {
  const { lang } = await props.params;
  if (!isLang(lang)) notFound();
  const view = parseView(lang, await props.searchParams);
  return <Dashboard view={view} href={(choice) => viewHref(view, choice)} />;
}
