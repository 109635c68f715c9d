// Days, months and ranges in the Gregorian or the Persian (Solar Hijri)
// calendar, for the period picker. Pure functions, for server and client alike.
//
// A day is an ISO string (YYYY-MM-DD, Gregorian), a local day of the site's
// time zone, as in the URL and the query service. Arithmetic runs on UTC
// midnights so the browser's own time zone and daylight saving never shift a
// day. Persian dates come from Intl (ICU), not a leap-year table of our own,
// so they agree with the query service's ICU4X.

import { type Lang, localDigits } from "./i18n";

export type CalendarKind = "gregorian" | "persian";

export const PRESETS = ["today", "yesterday", "7d", "30d", "month", "last_month", "12mo"] as const;
export type Preset = (typeof PRESETS)[number];

export function isPreset(value: unknown): value is Preset {
  return (PRESETS as readonly unknown[]).includes(value);
}

export function isCalendarKind(value: unknown): value is CalendarKind {
  return value === "gregorian" || value === "persian";
}

/** A month of a calendar: its year and its month, 1 to 12. */
export interface YearMonth {
  year: number;
  month: number;
}

/** A day of a calendar. */
export interface CalendarDate extends YearMonth {
  day: number;
}

/** One cell of a month grid. */
export interface GridDay {
  iso: string;
  day: number;
}

const DAY_MS = 86_400_000;

function utc(iso: string): Date {
  return new Date(`${iso}T00:00:00Z`);
}

function isoOf(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** A real Gregorian day written YYYY-MM-DD (not 2026-02-30, not 2026-2-3). */
export function isIsoDate(value: unknown): value is string {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = utc(value);
  // An invalid date (month 13) has no ISO form; an overflowing one (30 February) another.
  return !Number.isNaN(date.getTime()) && isoOf(date) === value;
}

export function addDays(iso: string, days: number): string {
  return isoOf(new Date(utc(iso).getTime() + days * DAY_MS));
}

/** Days from `from` to `to`: 0 for the same day, negative when `to` is earlier. */
export function daysBetween(from: string, to: string): number {
  return Math.round((utc(to).getTime() - utc(from).getTime()) / DAY_MS);
}

/** Today in a time zone (the site's), as an ISO day. */
export function todayIn(timeZone: string, now: Date = new Date()): string {
  return dayParts("gregorian", now, timeZone);
}

// Intl formatters are costly to build; a grid asks for dozens of names.
const formats = new Map<string, Intl.DateTimeFormat>();
function format(locale: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = locale + JSON.stringify(options);
  let f = formats.get(key);
  if (!f) formats.set(key, (f = new Intl.DateTimeFormat(locale, { timeZone: "UTC", ...options })));
  return f;
}

function unicodeCalendar(calendar: CalendarKind): string {
  return calendar === "persian" ? "persian" : "gregory";
}

/** "YYYY-MM-DD" of the day `date` falls on in `timeZone`, in the calendar (Latin digits). */
function dayParts(calendar: CalendarKind, date: Date, timeZone = "UTC"): string {
  const f = format(`en-u-ca-${unicodeCalendar(calendar)}-nu-latn`, {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  });
  const parts = f.formatToParts(date);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${part("year").padStart(4, "0")}-${part("month")}-${part("day")}`;
}

/** The calendar's year, month and day of an ISO day. */
export function calendarDate(calendar: CalendarKind, iso: string): CalendarDate {
  if (calendar === "gregorian") {
    const [year, month, day] = iso.split("-").map(Number);
    return { year, month, day };
  }
  const [year, month, day] = dayParts("persian", utc(iso)).split("-").map(Number);
  return { year, month, day };
}

/** The month of the calendar that holds an ISO day. */
export function monthOf(calendar: CalendarKind, iso: string): YearMonth {
  const { year, month } = calendarDate(calendar, iso);
  return { year, month };
}

/** The month `n` months after (before, if negative) the given one. */
export function shiftMonth({ year, month }: YearMonth, n: number): YearMonth {
  const index = year * 12 + month - 1 + n;
  return { year: Math.floor(index / 12), month: (index % 12) + 1 };
}

/** Negative when month `a` comes before `b`, 0 for the same month, positive after. */
export function compareMonths(a: YearMonth, b: YearMonth): number {
  return a.year * 12 + a.month - (b.year * 12 + b.month);
}

/** The ISO day on which a month of the calendar begins. */
export function firstDayOfMonth(calendar: CalendarKind, { year, month }: YearMonth): string {
  if (calendar === "gregorian") return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-01`;
  // 1 Farvardin falls on 20, 21 or 22 March (year + 621); the first six months
  // have 31 days and the next five 30. Guess from that, then let ICU correct
  // the guess by a day or two.
  let iso = addDays(`${year + 621}-03-21`, month <= 7 ? (month - 1) * 31 : 186 + (month - 7) * 30);
  for (let step = 0; step < 10; step++) {
    const d = calendarDate("persian", iso);
    const order = compareMonths(d, { year, month });
    if (order === 0) return addDays(iso, 1 - d.day);
    iso = addDays(iso, order < 0 ? 1 : -1);
  }
  throw new Error("this JavaScript engine has no Persian calendar (Intl without full ICU)");
}

export function daysInMonth(calendar: CalendarKind, month: YearMonth): number {
  return daysBetween(firstDayOfMonth(calendar, month), firstDayOfMonth(calendar, shiftMonth(month, 1)));
}

/** A month's name in a language: "November", "Azar", "نوامبر", "آذر". */
export function monthName(lang: Lang, calendar: CalendarKind, month: YearMonth, width: "long" | "short" = "long"): string {
  // Mid-month, so the name cannot depend on which day ICU thinks the month starts.
  const day = addDays(firstDayOfMonth(calendar, month), 14);
  return format(`${lang}-u-ca-${unicodeCalendar(calendar)}`, { month: width }).format(utc(day));
}

/**
 * A month and its year as a title: "November 2026", "Azar 1405", "آذر ۱۴۰۵",
 * "نوامبر ۲۰۲۶". Built from the month's name rather than ICU's year-month
 * pattern, which puts the Persian year first and adds an era in English.
 */
export function monthTitle(lang: Lang, calendar: CalendarKind, month: YearMonth): string {
  return `${monthName(lang, calendar, month)} ${localDigits(lang, String(month.year))}`;
}

/** The day the calendar's weeks start on (0 = Sunday): Saturday in Persian, Monday in Gregorian. */
export function weekStart(calendar: CalendarKind): number {
  return calendar === "persian" ? 6 : 1;
}

/** Weekday names for a grid's heading, from the calendar's first weekday: "Mon"…, "ش"…. */
export function weekdayNames(lang: Lang, calendar: CalendarKind): string[] {
  // 2024-01-07 was a Sunday; Persian's short names are whole words, too wide for a grid.
  const f = format(lang, { weekday: lang === "fa" ? "narrow" : "short" });
  return Array.from({ length: 7 }, (_, i) => f.format(utc(addDays("2024-01-07", weekStart(calendar) + i))));
}

/** A month as weeks of seven cells, from the calendar's first weekday; null pads the first and last week. */
export function monthGrid(calendar: CalendarKind, month: YearMonth): (GridDay | null)[][] {
  const first = firstDayOfMonth(calendar, month);
  const lead = (utc(first).getUTCDay() - weekStart(calendar) + 7) % 7;
  const cells: (GridDay | null)[] = Array.from({ length: lead }, () => null);
  for (let i = 0; i < daysInMonth(calendar, month); i++) cells.push({ iso: addDays(first, i), day: i + 1 });
  while (cells.length % 7) cells.push(null);
  return Array.from({ length: cells.length / 7 }, (_, w) => cells.slice(w * 7, w * 7 + 7));
}

/**
 * The days of a preset, given the site's today: the last 7 and 30 days end
 * today; "month", "last_month" and "12mo" follow the months of the calendar.
 */
export function presetRange(preset: Preset, today: string, calendar: CalendarKind): { from: string; to: string } {
  const current = monthOf(calendar, today);
  switch (preset) {
    case "today":
      return { from: today, to: today };
    case "yesterday":
      return { from: addDays(today, -1), to: addDays(today, -1) };
    case "7d":
      return { from: addDays(today, -6), to: today };
    case "30d":
      return { from: addDays(today, -29), to: today };
    case "month":
      return { from: firstDayOfMonth(calendar, current), to: today };
    case "last_month":
      return {
        from: firstDayOfMonth(calendar, shiftMonth(current, -1)),
        to: addDays(firstDayOfMonth(calendar, current), -1),
      };
    case "12mo":
      return { from: firstDayOfMonth(calendar, shiftMonth(current, -11)), to: today };
  }
}

/**
 * A range as a short label, naming a month or year once when both ends share it:
 * "1–30 Nov 2026", "1 Nov – 5 Dec 2026", "۱ تا ۳۰ آبان ۱۴۰۵"; one day as one date.
 */
export function formatRange(lang: Lang, calendar: CalendarKind, from: string, to: string): string {
  const [a, b] = [calendarDate(calendar, from), calendarDate(calendar, to)];
  const num = (n: number) => localDigits(lang, String(n));
  // Persian names are short already; English ones are abbreviated: "Nov".
  const name = (d: CalendarDate) => monthName(lang, calendar, d, lang === "fa" ? "long" : "short");
  const date = (d: CalendarDate, parts: "d" | "dm" | "dmy") =>
    [num(d.day), parts !== "d" && name(d), parts === "dmy" && num(d.year)].filter(Boolean).join(" ");
  const [dash, spacedDash] = lang === "fa" ? [" تا ", " تا "] : ["–", " – "];
  if (from === to) return date(a, "dmy");
  if (a.year !== b.year) return date(a, "dmy") + spacedDash + date(b, "dmy");
  if (a.month !== b.month) return date(a, "dm") + spacedDash + date(b, "dmy");
  return date(a, "d") + dash + date(b, "dmy");
}
