import { notFound } from "next/navigation";

import { Dashboard } from "@/components/Dashboard";
import { type Lang, isLang } from "@/lib/i18n";
import type { Calendar, Compare, Period } from "@/lib/query";

// Numbers are read on every request; the query service has its own cache.
export const dynamic = "force-dynamic";

type Search = { period?: string; calendar?: string; site?: string; compare?: string };

export default async function Page(props: { params: Promise<{ lang: string }>; searchParams: Promise<Search> }) {
  const { lang } = await props.params;
  if (!isLang(lang)) notFound();
  const search = await props.searchParams;
  const period: Period =
    search.period === "hourly" || search.period === "weekly" || search.period === "monthly" ? search.period : "daily";
  // Persian readers get the Solar Hijri calendar unless they ask otherwise.
  const calendar: Calendar =
    search.calendar === "gregorian" || search.calendar === "persian"
      ? search.calendar
      : lang === "fa"
        ? "persian"
        : "gregorian";
  const site = search.site || undefined;
  const compare: Compare | undefined =
    search.compare === "previous_period" || search.compare === "year_over_year" ? search.compare : undefined;
  const href = (choice: { lang?: Lang; period?: Period; calendar?: Calendar; compare?: Compare | "none" }) => {
    const query = new URLSearchParams();
    if (site) query.set("site", site);
    const nextCompare = choice.compare ?? compare;
    if (nextCompare && nextCompare !== "none") query.set("compare", nextCompare);
    const nextPeriod = choice.period ?? period;
    if (nextPeriod !== "daily") query.set("period", nextPeriod);
    // A language switch resets the calendar to the new language's default.
    if (!choice.lang) query.set("calendar", choice.calendar ?? calendar);
    const qs = query.toString();
    return `/${choice.lang ?? lang}${qs ? `?${qs}` : ""}`;
  };
  return <Dashboard lang={lang} period={period} calendar={calendar} site={site} compare={compare} href={href} />;
}
