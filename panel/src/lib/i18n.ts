// English and Persian texts of the panel, and number, date and name formatting
// in each language. Persian is right to left, with Persian digits.

export const LANGS = ["en", "fa"] as const;
export type Lang = (typeof LANGS)[number];

export function isLang(value: string | undefined): value is Lang {
  return value === "en" || value === "fa";
}

export function dir(lang: Lang): "ltr" | "rtl" {
  return lang === "fa" ? "rtl" : "ltr";
}

const en = {
  title: "Visit analytics",
  site: "Site",
  timezone: "Time zone",
  updated: "Updated",
  clearCache: "Clear cache",
  clearing: "Clearing…",
  cleared: "Cache cleared, numbers reloaded",
  clearFailed: "Could not clear the cache",
  today: "Today",
  yesterday: "Yesterday",
  thisMonth: "This month",
  total: "Total",
  pageviews: "Pageviews",
  visitors: "Visitors",
  events: "Events",
  visits: "Visits",
  bounceRate: "Bounce rate",
  visitDuration: "Avg. visit duration",
  viewsPerVisit: "Views per visit",
  /** The live indicator: visitors seen in the last `minutes` minutes. */
  live: (visitors: string, count: number, minutes: string) =>
    `Live: ${visitors} ${count === 1 ? "visitor" : "visitors"} in the last ${minutes} minutes`,
  duration: { h: "h", m: "m", s: "s", join: " " },
  sources: { web: "Web", mobile_web: "Mobile web", app: "App" } as Record<string, string>,
  chart: "Traffic",
  hourly: "Hourly",
  source: "Source",
  allSources: "All sources",
  compare: "Compare",
  compareWith: { none: "No comparison", previous_period: "With the period before", year_over_year: "With a year ago" },
  before: "before",
  comparedPageviews: "Pageviews, compared period",
  show: "Show",
  csv: "CSV",
  daily: "Daily",
  weekly: "Weekly",
  monthly: "Monthly",
  gregorian: "Gregorian",
  persian: "Persian",
  topPages: "Top pages",
  entryPages: "Entry pages",
  exitPages: "Exit pages",
  page: "Page",
  pageTitle: "Title",
  topCountries: "Top countries",
  country: "Country",
  unknownCountry: "Unknown",
  devices: "Devices",
  browsers: "Browsers",
  os: "Operating systems",
  referrers: "Referrers",
  direct: "Direct / none",
  customEvents: "Custom events",
  segment: "Segment",
  removeFilter: "Remove",
  filterBy: "Show only this",
  notSegmented: "Entry and exit pages and release health are not narrowed by a segment.",
  goals: "Goals",
  conversions: "Conversions",
  conversionRate: "Conversion rate",
  keptTabs: "Goals, properties and funnels",
  tabs: { goals: "Goals", properties: "Properties", funnels: "Funnels" } as Record<string, string>,
  property: "Property",
  value: "Value",
  funnel: "Funnel",
  step: "Step",
  dropoff: "Drop-off",
  noGoals: "No goals yet. Add one with: analytics-ctl goal add --site <site> --event <name> (or --page <path>)",
  noProperties: "No custom properties in this range. Send them with an event: analytics('signup', {props: {plan: 'pro'}})",
  noFunnels:
    "No saved funnels yet. Save one with: analytics-ctl funnel add --site <site> --name <name> --step page==/pricing --step event==signup",
  speed: "Site speed",
  appVersions: "App versions",
  releaseHealth: "Release health",
  version: "Version",
  requests: "Requests",
  serverErrors: "5xx",
  clientErrors: "4xx",
  metric: { load_ms: "Page load", ttfb_ms: "Time to first byte", response_ms: "Server response" } as Record<
    string,
    string
  >,
  p50: "p50",
  p95: "p95",
  measurements: "measurements",
  noData: "No data yet",
  /** The chart's note on days brought in by `analytics-ctl import`. */
  imported: (source: string, range: string) =>
    `${range}: imported from ${source === "django" ? "the old Django system" : source === "umami" ? "Umami" : source}. These days may lack some figures (web vitals, page titles), and their visitors were counted by that system's sessions.`,
  last30: "Last 30 days",
  error: "The query service did not answer",
  language: "فارسی",
  ms: "ms",
  /** The standalone panel's login (PANEL_PASSWORD). */
  login: {
    title: "Sign in",
    password: "Password",
    submit: "Sign in",
    wrong: "Wrong password",
    wait: (seconds: string) => `Too many attempts: try again in ${seconds} s`,
    logout: "Sign out",
  },
  dimension: {
    desktop: "Desktop",
    mobile: "Mobile",
    tablet: "Tablet",
    other: "Other",
    unknown: "Unknown",
  } as Record<string, string>,
  picker: {
    presets: {
      today: "Today",
      yesterday: "Yesterday",
      "7d": "Last 7 days",
      "30d": "Last 30 days",
      month: "This month",
      last_month: "Last month",
      "12mo": "Last 12 months",
    },
    period: "Period",
    custom: "Custom range",
    apply: "Apply",
    previousMonth: "Previous month",
    nextMonth: "Next month",
    from: "From",
    to: "To",
    close: "Close",
  },
};

export type Texts = typeof en;

const fa: Texts = {
  title: "آمار بازدید",
  site: "سایت",
  timezone: "منطقهٔ زمانی",
  updated: "به‌روزرسانی",
  clearCache: "پاک کردن کش",
  clearing: "در حال پاک کردن…",
  cleared: "کش پاک شد و آمار دوباره بارگیری شد",
  clearFailed: "پاک کردن کش ممکن نشد",
  today: "امروز",
  yesterday: "دیروز",
  thisMonth: "این ماه",
  total: "کل",
  pageviews: "بازدید صفحه",
  visitors: "بازدیدکننده",
  events: "رویداد",
  visits: "بازدیدها",
  bounceRate: "نرخ پرش",
  visitDuration: "میانگین مدت بازدید",
  viewsPerVisit: "صفحه در هر بازدید",
  live: (visitors: string, _count: number, minutes: string) =>
    `بازدیدکنندگان آنلاین: ${visitors} نفر در ${minutes} دقیقهٔ گذشته`,
  duration: { h: " ساعت", m: " دقیقه", s: " ثانیه", join: " و " },
  sources: { web: "وب", mobile_web: "وب موبایل", app: "اپلیکیشن" },
  chart: "نمودار بازدید",
  hourly: "ساعتی",
  source: "منبع",
  allSources: "همهٔ منابع",
  compare: "مقایسه",
  compareWith: { none: "بدون مقایسه", previous_period: "با دورهٔ قبل", year_over_year: "با سال گذشته" },
  before: "قبل",
  comparedPageviews: "بازدید صفحه، دورهٔ مقایسه",
  show: "نمایش",
  csv: "CSV",
  daily: "روزانه",
  weekly: "هفتگی",
  monthly: "ماهانه",
  gregorian: "میلادی",
  persian: "شمسی",
  topPages: "صفحه‌های پربازدید",
  entryPages: "صفحه‌های ورود",
  exitPages: "صفحه‌های خروج",
  page: "صفحه",
  pageTitle: "عنوان",
  topCountries: "کشورها",
  country: "کشور",
  unknownCountry: "نامشخص",
  devices: "دستگاه‌ها",
  browsers: "مرورگرها",
  os: "سیستم‌عامل‌ها",
  referrers: "ارجاع‌دهنده‌ها",
  direct: "مستقیم / بدون ارجاع",
  customEvents: "رویدادهای سفارشی",
  segment: "بخش",
  removeFilter: "حذف",
  filterBy: "فقط همین را نشان بده",
  notSegmented: "صفحه‌های ورود و خروج و سلامت نسخه‌ها با بخش محدود نمی‌شوند.",
  goals: "اهداف",
  conversions: "تبدیل‌ها",
  conversionRate: "نرخ تبدیل",
  keptTabs: "اهداف، ویژگی‌ها و قیف‌ها",
  tabs: { goals: "اهداف", properties: "ویژگی‌ها", funnels: "قیف‌ها" },
  property: "ویژگی",
  value: "مقدار",
  funnel: "قیف",
  step: "مرحله",
  dropoff: "ریزش",
  noGoals: "هنوز هدفی تعریف نشده. با این فرمان اضافه کنید: analytics-ctl goal add --site <site> --event <name>",
  noProperties: "در این بازه ویژگی سفارشی‌ای نیست. آن را همراه رویداد بفرستید: analytics('signup', {props: {plan: 'pro'}})",
  noFunnels:
    "هنوز قیفی ذخیره نشده. با این فرمان ذخیره کنید: analytics-ctl funnel add --site <site> --name <name> --step page==/pricing --step event==signup",
  speed: "سرعت سایت",
  appVersions: "نسخه‌های اپ",
  releaseHealth: "سلامت نسخه‌ها",
  version: "نسخه",
  requests: "درخواست‌ها",
  serverErrors: "خطای ۵xx",
  clientErrors: "خطای ۴xx",
  metric: { load_ms: "بارگذاری صفحه", ttfb_ms: "زمان تا اولین بایت", response_ms: "پاسخ سرور" },
  p50: "میانه",
  p95: "صدک ۹۵",
  measurements: "اندازه‌گیری",
  noData: "هنوز داده‌ای نیست",
  imported: (source: string, range: string) =>
    `${range}: از ${source === "django" ? "سامانهٔ قبلی جنگو" : source === "umami" ? "Umami" : source} وارد شده است. ممکن است برخی ارقام این روزها (شاخص‌های وب، عنوان صفحه‌ها) نباشد و بازدیدکنندگانشان بر پایهٔ نشست‌های همان سامانه شمرده شده‌اند.`,
  last30: "۳۰ روز گذشته",
  error: "سرویس آمار پاسخ نداد",
  language: "English",
  ms: "میلی‌ثانیه",
  login: {
    title: "ورود",
    password: "رمز عبور",
    submit: "ورود",
    wrong: "رمز عبور نادرست است",
    wait: (seconds: string) => `تلاش‌ها بیش از حد مجاز است؛ ${seconds} ثانیهٔ دیگر دوباره امتحان کنید`,
    logout: "خروج",
  },
  dimension: {
    desktop: "رومیزی",
    mobile: "موبایل",
    tablet: "تبلت",
    other: "سایر",
    unknown: "نامشخص",
  },
  picker: {
    presets: {
      today: "امروز",
      yesterday: "دیروز",
      "7d": "۷ روز گذشته",
      "30d": "۳۰ روز گذشته",
      month: "این ماه",
      last_month: "ماه گذشته",
      "12mo": "۱۲ ماه گذشته",
    },
    period: "بازهٔ زمانی",
    custom: "بازهٔ دلخواه",
    apply: "اعمال",
    previousMonth: "ماه قبل",
    nextMonth: "ماه بعد",
    from: "از",
    to: "تا",
    close: "بستن",
  },
};

export function texts(lang: Lang): Texts {
  return lang === "fa" ? fa : en;
}

const numberFormats: Record<Lang, Intl.NumberFormat> = {
  en: new Intl.NumberFormat("en-US"),
  fa: new Intl.NumberFormat("fa-IR"),
};

export function formatNumber(lang: Lang, value: number | null | undefined): string {
  return value == null ? "–" : numberFormats[lang].format(value);
}

const percentFormats: Record<Lang, Intl.NumberFormat> = {
  en: new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 }),
  fa: new Intl.NumberFormat("fa-IR", { style: "percent", maximumFractionDigits: 1 }),
};

/** A percentage given as 0-100 (the query service's rates): 33.3%, ۳۳٫۳٪. */
export function formatPercent(lang: Lang, value: number | null | undefined): string {
  return value == null ? "–" : percentFormats[lang].format(value / 100);
}

const decimalFormats: Record<Lang, Intl.NumberFormat> = {
  en: new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 }),
  fa: new Intl.NumberFormat("fa-IR", { maximumFractionDigits: 2 }),
};

/** Up to two decimals: 3.25, ۳٫۲۵. */
export function formatDecimal(lang: Lang, value: number | null | undefined): string {
  return value == null ? "–" : decimalFormats[lang].format(value);
}

const twoDigits = new Intl.NumberFormat("en-US", { minimumIntegerDigits: 2, useGrouping: false });

/**
 * A duration in seconds, rounded to the second: "45s", "2m 05s", "1h 02m 05s";
 * in Persian words, without padding or zero units: "۴۵ ثانیه", "۲ دقیقه و ۵ ثانیه", "۱ ساعت".
 */
export function formatDuration(lang: Lang, seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  const total = Math.max(0, Math.round(seconds));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const u = texts(lang).duration;
  // After a larger unit, English pads to two digits (2m 05s); Persian does not.
  const after = (v: number) => (lang === "en" ? twoDigits.format(v) : formatNumber(lang, v));
  const parts: string[] = [];
  if (h > 0) parts.push(`${formatNumber(lang, h)}${u.h}`);
  if (h > 0 || m > 0) parts.push(`${h > 0 ? after(m) : formatNumber(lang, m)}${u.m}`);
  parts.push(`${h > 0 || m > 0 ? after(s) : formatNumber(lang, s)}${u.s}`);
  // "۲ دقیقه", not "۲ دقیقه و ۰ ثانیه".
  if (lang === "fa" && parts.length > 1) {
    const kept = parts.filter((_, i) => [h, m, s].slice(3 - parts.length)[i] > 0);
    return kept.join(u.join);
  }
  return parts.join(u.join);
}

const compactFormats: Record<Lang, Intl.NumberFormat> = {
  en: new Intl.NumberFormat("en-US", { notation: "compact" }),
  fa: new Intl.NumberFormat("fa-IR", { notation: "compact" }),
};

/** 12K, ۱۲ هزار: for axis ticks. */
export function formatCompact(lang: Lang, value: number): string {
  return compactFormats[lang].format(value);
}

const shortFormats: Record<Lang, Intl.NumberFormat> = {
  en: new Intl.NumberFormat("en-US", { notation: "compact", maximumSignificantDigits: 3 }),
  fa: new Intl.NumberFormat("fa-IR", { notation: "compact", maximumSignificantDigits: 3 }),
};

/** 1.57M, ۱٫۵۷ میلیون: a big figure where the exact one would not fit. */
export function formatShort(lang: Lang, value: number): string {
  return shortFormats[lang].format(value);
}

/** Latin digits in a label (the query service's calendar labels) as Persian digits. */
export function localDigits(lang: Lang, text: string): string {
  return lang === "fa" ? text.replace(/[0-9]/g, (d) => "۰۱۲۳۴۵۶۷۸۹"[Number(d)]) : text;
}

/** The flag emoji of an ISO 3166-1 alpha-2 code (regional indicator symbols). */
export function flag(code: string): string {
  if (!/^[A-Za-z]{2}$/.test(code)) return "🌐";
  return String.fromCodePoint(...[...code.toUpperCase()].map((c) => 0x1f1e6 + c.charCodeAt(0) - 65));
}

/** The country's name in the panel's language; the service's English name as a fallback. */
export function countryName(lang: Lang, code: string, english: string | null | undefined): string {
  if (!/^[A-Za-z]{2}$/.test(code)) return texts(lang).unknownCountry;
  if (lang === "en" && english) return english;
  try {
    return new Intl.DisplayNames([lang], { type: "region" }).of(code.toUpperCase()) ?? english ?? code;
  } catch {
    return english ?? code;
  }
}

/** Stored paths are URL-encoded as browsers send them; people read them decoded. */
export function readablePath(path: string): string {
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}

export function formatTime(lang: Lang, date: Date, timeZone: string): string {
  try {
    return new Intl.DateTimeFormat(lang === "fa" ? "fa-IR" : "en-GB", {
      dateStyle: "medium",
      timeStyle: "medium",
      timeZone,
    }).format(date);
  } catch {
    return date.toISOString();
  }
}
