// What the dashboard shows, as its URL says it: the site, the period (a
// preset or from/to), the comparison, the traffic source, the chart's
// granularity and calendar, and the segment (`filter`, repeatable). The URL is the whole state, so a view can be
// bookmarked and shared; anything missing or malformed falls back to the
// defaults (the last 30 days, all sources, no comparison).
import { type CalendarKind, type Preset, daysBetween, isIsoDate, isPreset, presetRange } from "@/lib/calendar";
import type { Lang } from "@/lib/i18n";

export type Period = "hourly" | "daily" | "weekly" | "monthly";
export type Calendar = CalendarKind;
/** What the figures compare with (`?compare=`), or nothing. */
export type Compare = "previous_period" | "year_over_year";
export const SOURCES = ["web", "mobile_web", "app"] as const;
export type Source = (typeof SOURCES)[number];

export const DEFAULT_PRESET: Preset = "30d";
/** The tabs of what is answered from the kept events (`?tab=`). */
export const TABS = ["goals", "properties", "funnels"] as const;
export type Tab = (typeof TABS)[number];
/** The query service's limit for an hourly chart. */
const HOURLY_MAX_DAYS = 7;

export interface View {
  lang: Lang;
  site?: string;
  /** A preset, or a custom range when `from` and `to` are set. */
  preset: Preset;
  from?: string;
  to?: string;
  compare?: Compare;
  source?: Source;
  /** The chart's buckets as asked for; `chartPeriod` says what is drawn. */
  period: Period;
  calendar: Calendar;
  /** The segment: `<dimension>==<value>` (or `!=`, `~=`), all of which must hold. */
  filters: string[];
  /** The open tab of goals, properties and funnels, and its choice there. */
  tab: Tab;
  /** The custom property whose values are listed (default: the most used). */
  prop?: string;
  /** The saved funnel shown (default: the first by name). */
  funnel?: string;
}

export type Search = Partial<
  Record<
    "site" | "range" | "from" | "to" | "compare" | "source" | "period" | "calendar" | "filter" | "tab" | "prop" | "funnel",
    string | string[]
  >
>;

/** At most this many filters (the query service's limit). */
const MAX_FILTERS = 10;

const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value) || undefined;
const oneOf = <T extends string>(values: readonly T[], value: string | undefined) => values.find((v) => v === value);

export function parseView(lang: Lang, search: Search): View {
  const from = one(search.from);
  const to = one(search.to);
  const custom = from && to && isIsoDate(from) && isIsoDate(to) && from <= to;
  const range = one(search.range);
  return {
    lang,
    site: one(search.site),
    preset: range && isPreset(range) ? range : DEFAULT_PRESET,
    from: custom ? from : undefined,
    to: custom ? to : undefined,
    compare: oneOf(["previous_period", "year_over_year"] as const, one(search.compare)),
    source: oneOf(SOURCES, one(search.source)),
    period: oneOf(["hourly", "daily", "weekly", "monthly"] as const, one(search.period)) ?? "daily",
    // Persian readers get the Solar Hijri calendar unless they ask otherwise.
    calendar: oneOf(["gregorian", "persian"] as const, one(search.calendar)) ?? (lang === "fa" ? "persian" : "gregorian"),
    filters: [...new Set([search.filter ?? []].flat().filter((f) => /^[a-z_]+(:[^=!~]+)?(==|!=|~=)/.test(f)))].slice(0, MAX_FILTERS),
    tab: oneOf(TABS, one(search.tab)) ?? "goals",
    prop: one(search.prop),
    funnel: one(search.funnel),
  };
}

/** The filter that narrows the view to `value` of `dimension`. */
export function filterOf(dimension: string, value: string): string {
  return `${dimension}==${value}`;
}

/** The local days the view covers, `today` being the site's. */
export function viewRange(view: View, today: string): { from: string; to: string } {
  if (view.from && view.to) return { from: view.from, to: view.to };
  return presetRange(view.preset, today, view.calendar);
}

/** Days in a range, both ends included. */
export function rangeDays(range: { from: string; to: string }): number {
  return daysBetween(range.from, range.to) + 1;
}

/** A single day is always drawn by hour; hourly is refused past what the service draws by hour. */
export function chartPeriod(view: View, range: { from: string; to: string }): Period {
  const days = rangeDays(range);
  if (days === 1) return "hourly";
  if (view.period === "hourly" && days > HOURLY_MAX_DAYS) return "daily";
  return view.period;
}

export function hourlyAllowed(range: { from: string; to: string }): boolean {
  return rangeDays(range) <= HOURLY_MAX_DAYS;
}

export type Choice = Partial<Omit<View, "compare" | "source">> & {
  compare?: Compare | "none";
  source?: Source | "all";
};

/**
 * The URL's query for the view with `choice` applied; defaults are left out.
 * A new preset or custom range replaces the other; a new language resets the
 * calendar to that language's default.
 */
export function viewQuery(view: View, choice: Choice = {}): URLSearchParams {
  const next = { ...view, ...choice };
  if (choice.preset) Object.assign(next, { from: undefined, to: undefined });
  const query = new URLSearchParams();
  if (next.site) query.set("site", next.site);
  if (next.from && next.to) {
    query.set("from", next.from);
    query.set("to", next.to);
  } else if (next.preset !== DEFAULT_PRESET) {
    query.set("range", next.preset);
  }
  if (next.compare && next.compare !== "none") query.set("compare", next.compare);
  if (next.source && next.source !== "all") query.set("source", next.source);
  if (next.period !== "daily") query.set("period", next.period);
  if (!choice.lang) query.set("calendar", next.calendar);
  for (const filter of next.filters) query.append("filter", filter);
  if (next.tab !== "goals") query.set("tab", next.tab);
  if (next.prop) query.set("prop", next.prop);
  if (next.funnel) query.set("funnel", next.funnel);
  return query;
}

/** The page's own link for the view with `choice` applied (pages live at `/{lang}`). */
export function viewHref(view: View, choice: Choice = {}): string {
  const query = viewQuery(view, choice).toString();
  return `/${choice.lang ?? view.lang}${query ? `?${query}` : ""}`;
}
