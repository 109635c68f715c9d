import Link from "next/link";

import { ClearCacheButton } from "@/components/ClearCacheButton";
import { KeptTabs } from "@/components/KeptTabs";
import { OverviewCards } from "@/components/OverviewCards";
import { ExportLink, RankTable, type RankRow } from "@/components/RankTable";
import { ReleaseHealthPanel } from "@/components/ReleaseHealthPanel";
import { SpeedPanel } from "@/components/SpeedPanel";
import { Switch } from "@/components/Switch";
import { TrafficChart } from "@/components/TrafficChart";
import { LogoutButton } from "@/components/LogoutButton";
import { PeriodPicker } from "@/components/PeriodPicker";
import { type Lang, type Texts, countryName, dir, flag, formatNumber, formatTime, readablePath, texts } from "@/lib/i18n";
import { type Dashboard as Data, type Schemas, listSites, loadDashboard, siteToday } from "@/lib/query";
import { passwordRequired } from "@/lib/session";
import { type Choice, type View, SOURCES, chartPeriod, filterOf, hourlyAllowed, rangeDays, viewQuery, viewRange } from "@/lib/view";

export interface DashboardProps {
  /**
   * What to show: the site (id or domain; the configured one when absent,
   * another needs the admin token), the period, comparison, source and chart.
   */
  view: View;
  /** This page's own link for the view with one choice changed (where the page lives is the caller's). */
  href: (choice: Choice) => string;
}

function rows(
  breakdown: Schemas["Breakdown"],
  label: (value: string) => string,
  narrow?: (value: string) => string | undefined,
): RankRow[] {
  return breakdown.results.map((r) => ({
    key: r.value,
    label: label(r.value),
    pageviews: r.pageviews,
    visitors: r.visitors,
    events: r.events,
    data: { value: r.value },
    filterHref: narrow?.(r.value),
  }));
}

/** The active segment: one chip per filter, each with its own removal link. */
function SegmentBar(props: { t: Texts; filters: string[]; without: (filter: string) => string }) {
  return (
    <div className="segment" data-testid="segment">
      <span>{props.t.segment}:</span>
      {props.filters.map((filter) => (
        <span key={filter} className="chip" data-testid="filter-chip" data-filter={filter}>
          <bdi dir="ltr">{filter}</bdi>{" "}
          <Link href={props.without(filter)} data-testid="remove-filter" aria-label={`${props.t.removeFilter} ${filter}`}>
            ×
          </Link>
        </span>
      ))}
      <p className="note">{props.t.notSegmented}</p>
    </div>
  );
}

/** Entry or exit pages: the path people read (decoded), ranked by visits. */
function pageRows(breakdown: Schemas["Breakdown"]): RankRow[] {
  return breakdown.results.map((r) => ({
    key: r.value,
    label: <bdi dir="ltr">{readablePath(r.value)}</bdi>,
    pageviews: r.pageviews,
    visitors: r.visitors,
    visits: r.visits ?? 0,
    data: { path: r.value },
  }));
}

/** "Live: 3 visitors in the last 5 minutes", with a dot; the number as of this render. */
function LiveIndicator({ lang, t, realtime }: { lang: Lang; t: Texts; realtime: Schemas["Realtime"] }) {
  const minutes = Math.max(1, Math.round(realtime.window_seconds / 60));
  return (
    <p className="live" data-testid="live" data-visitors={realtime.visitors} data-window-seconds={realtime.window_seconds}>
      <span className={realtime.visitors > 0 ? "pulse on" : "pulse"} aria-hidden="true" />
      {t.live(formatNumber(lang, realtime.visitors), realtime.visitors, formatNumber(lang, minutes))}
    </p>
  );
}

/** Every site, for a panel that holds the admin token: a plain GET form, no script needed. */
function SiteSwitcher(props: { t: Texts; view: View; sites: Schemas["SiteEntry"][]; current: string; action: string }) {
  // The view's other choices ride along; a site's own range starts afresh only if none was chosen.
  const others = [...viewQuery(props.view).entries()].filter(([name]) => name !== "site");
  return (
    <form className="site-switcher" method="get" action={props.action} data-testid="site-switcher">
      <label>
        {props.t.site}{" "}
        <select name="site" defaultValue={props.current} dir="ltr">
          {props.sites.map((s) => (
            <option key={s.id} value={s.id}>
              {s.domain}
            </option>
          ))}
        </select>
      </label>
      {others.map(([name, value]) => (
        <input key={name} type="hidden" name={name} value={value} />
      ))}
      <button type="submit">{props.t.show}</button>
    </form>
  );
}

/**
 * The whole dashboard of one site. A server component: it reads the query
 * service with the token from the environment and renders HTML; only the
 * Clear cache button runs in the browser. Copy it with its components and
 * src/lib into another Next.js app, and render it from any page.
 */
export async function Dashboard(props: DashboardProps) {
  const { view } = props;
  const { lang } = view;
  const t = texts(lang);
  let data: Data | null = null;
  let error: string | null = null;
  let today = "";
  let range = { from: "", to: "" };
  // The site list (admin only) is not needed to load the figures: asked for beside them.
  const sitesLoaded = listSites();
  try {
    today = await siteToday(view.site);
    range = viewRange(view, today);
    data = await loadDashboard(view, range);
  } catch (e) {
    console.error("dashboard:", e);
    error = e instanceof Error ? e.message : String(e);
  }
  const sites = await sitesLoaded;
  const renderedAt = new Date();
  const label = (value: string) => t.dimension[value.toLowerCase()] ?? value;
  // The view narrowed to one more value (a segment), and without one filter.
  // `(other)` (values past the daily bound) is no value an event has: not a segment.
  const narrow = (dimension: string) => (value: string) =>
    value === "(other)" ? undefined : props.href({ filters: [...view.filters, filterOf(dimension, value)] });
  const without = (filter: string) => props.href({ filters: view.filters.filter((f) => f !== filter) });
  const csv = (table: string) => `/api/export?table=${table}&${viewQuery(view)}`;
  const path = new URL(props.href({}), "http://panel").pathname;
  // The picker's links keep every other choice; the range is its own.
  const pickerQuery = [...viewQuery(view).entries()].filter(([name]) => !["from", "to", "range"].includes(name));
  const shownPeriod = data ? chartPeriod(view, range) : view.period;

  return (
    <div className="dashboard" lang={lang} dir={dir(lang)} data-testid="dashboard" data-rendered-at={renderedAt.getTime()}>
      <header>
        <div>
          <h1>{t.title}</h1>
          {data && (
            <p className="site" data-testid="site">
              <span dir="ltr">{data.overview.domain}</span> · {t.timezone}: <span dir="ltr">{data.overview.timezone}</span>{" "}
              · {t.updated}: <time dateTime={renderedAt.toISOString()}>{formatTime(lang, renderedAt, data.overview.timezone)}</time>
            </p>
          )}
          {data?.realtime && <LiveIndicator lang={lang} t={t} realtime={data.realtime} />}
        </div>
        <div className="actions">
          {sites && sites.length > 1 && data && (
            <SiteSwitcher t={t} view={view} sites={sites} current={data.overview.site} action={path} />
          )}
          <ClearCacheButton label={t.clearCache} busyLabel={t.clearing} doneLabel={t.cleared} failedLabel={t.clearFailed} />
          <Link className="lang" href={props.href({ lang: lang === "fa" ? "en" : "fa" })} data-testid="language" hrefLang={lang === "fa" ? "en" : "fa"}>
            {t.language}
          </Link>
          {passwordRequired() && <LogoutButton lang={lang} />}
        </div>
      </header>

      {error || !data ? (
        <p className="error" role="alert" data-testid="error">
          {t.error}: <code dir="ltr">{error}</code>
        </p>
      ) : (
        <>
          <div className="view-bar">
            <PeriodPicker
              lang={lang}
              calendar={view.calendar}
              today={today}
              from={range.from}
              to={range.to}
              preset={view.from ? undefined : view.preset}
              path={path}
              query={new URLSearchParams(pickerQuery).toString()}
              texts={t.picker}
            />
            <Switch
              id="source"
              label={t.source}
              current={view.source ?? "all"}
              options={(["all", ...SOURCES] as const).map((s) => ({
                value: s,
                label: s === "all" ? t.allSources : t.sources[s],
                href: props.href({ source: s }),
              }))}
            />
            <Switch
              id="compare"
              label={t.compare}
              current={view.compare ?? "none"}
              options={(["none", "previous_period", "year_over_year"] as const).map((c) => ({
                value: c,
                label: t.compareWith[c],
                href: props.href({ compare: c }),
              }))}
            />
          </div>
          {view.filters.length > 0 && <SegmentBar t={t} filters={view.filters} without={without} />}
          <OverviewCards lang={lang} calendar={view.calendar} overview={data.overview} bySource={data.bySource} />

          <section className="panel chart-panel">
            <div className="chart-head">
              <h2>{t.chart}</h2>
              <ExportLink href={csv("chart")} label={t.csv} />
              {rangeDays(range) > 1 && (
              <Switch
                id="period"
                label={t.chart}
                current={shownPeriod}
                options={(["hourly", "daily", "weekly", "monthly"] as const)
                  .filter((p) => p !== "hourly" || hourlyAllowed(range))
                  .map((p) => ({ value: p, label: t[p], href: props.href({ period: p }) }))}
              />
              )}
              <Switch
                id="calendar"
                label={t.chart}
                current={view.calendar}
                options={(["gregorian", "persian"] as const).map((c) => ({ value: c, label: t[c], href: props.href({ calendar: c }) }))}
              />
            </div>
            <TrafficChart chart={data.chart} lang={lang} calendar={view.calendar} imported={data.overview.imported} />
          </section>

          <div className="grid">
            <RankTable
              id="top-pages"
              title={t.topPages}
              exportHref={csv("top-pages")}
              lang={lang}
              valueHeading={`${t.page} / ${t.pageTitle}`}
              rows={data.topPages.results.map((p) => ({
                key: p.path,
                label: <bdi dir="ltr">{readablePath(p.path)}</bdi>,
                detail: p.title ? <bdi>{p.title}</bdi> : undefined,
                pageviews: p.pageviews,
                visitors: p.visitors,
                events: p.events,
                data: { path: p.path, title: p.title },
                filterHref: narrow("page")(p.path),
              }))}
            />
            <RankTable id="entry-pages" exportHref={csv("entry_page")} title={t.entryPages} lang={lang} valueHeading={t.page} rankBy="visits" rows={pageRows(data.entryPages)} />
            <RankTable id="exit-pages" exportHref={csv("exit_page")} title={t.exitPages} lang={lang} valueHeading={t.page} rankBy="visits" rows={pageRows(data.exitPages)} />
            <RankTable
              id="top-countries"
              title={t.topCountries}
              exportHref={csv("top-countries")}
              lang={lang}
              valueHeading={t.country}
              rows={data.topCountries.results.map((c) => ({
                key: c.country,
                label: (
                  <>
                    <span className="flag" aria-hidden="true">
                      {flag(c.country)}
                    </span>{" "}
                    {countryName(lang, c.country, c.name)}
                  </>
                ),
                pageviews: c.pageviews,
                visitors: c.visitors,
                events: c.events,
                data: { country: c.country },
                filterHref: narrow("country")(c.country),
              }))}
            />
            <RankTable id="devices" exportHref={csv("device")} title={t.devices} lang={lang} valueHeading={t.devices} rows={rows(data.devices, label, narrow("device"))} />
            <RankTable id="browsers" exportHref={csv("browser")} title={t.browsers} lang={lang} valueHeading={t.browsers} rows={rows(data.browsers, label, narrow("browser"))} />
            <RankTable id="os" exportHref={csv("os")} title={t.os} lang={lang} valueHeading={t.os} rows={rows(data.os, label, narrow("os"))} />
            <RankTable
              id="referrers"
              title={t.referrers}
              exportHref={csv("referrer")}
              lang={lang}
              valueHeading={t.referrers}
              rows={rows(data.referrers, (v) => (v ? v : t.direct), narrow("referrer"))}
            />
            <RankTable
              id="events"
              title={t.customEvents}
              exportHref={csv("event")}
              lang={lang}
              valueHeading={t.customEvents}
              rankBy="events"
              rows={rows(data.events, (v) => v, narrow("event"))}
            />
            <KeptTabs lang={lang} t={t} kept={data.kept} href={props.href} narrow={narrow} />
            <SpeedPanel speed={data.speed} lang={lang} />
            {/* Only for a site with app traffic; release health only where the app
                reports its requests (the Django middleware does). */}
            {data.appVersions.results.length > 0 && (
              <RankTable id="app-versions" exportHref={csv("app-versions")} title={t.appVersions} lang={lang} valueHeading={t.version} rows={rows(data.appVersions, (v) => v)} />
            )}
            {data.releaseHealth.results.length > 0 && <ReleaseHealthPanel versions={data.releaseHealth} lang={lang} />}
          </div>
        </>
      )}
    </div>
  );
}
