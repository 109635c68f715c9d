import { type CalendarKind, formatRange } from "@/lib/calendar";
import { type Lang, formatDecimal, formatDuration, formatNumber, formatPercent, formatShort, texts } from "@/lib/i18n";
import type { Schemas } from "@/lib/query";
import { SOURCES, type Source } from "@/lib/view";

/** The chosen range first, then the fixed periods a site owner checks daily. */
const PERIODS = ["range", "today", "yesterday", "this_month", "total"] as const;
type PeriodKey = (typeof PERIODS)[number];

/** Seven digits and more do not fit a card: 1.57M, with the exact number on hover. */
const SHORTEN_FROM = 1_000_000;

/** A data-* value: the number as the service gave it, empty for null. */
const raw = (v: number | null | undefined) => (v == null ? "" : String(v));

/**
 * Today, yesterday, this month and total: pageviews, visitors and visits, how
 * engaged the visits were (bounce rate, average duration, views per visit),
 * and pageviews, visitors and visits split into web, mobile web and app.
 */
export function OverviewCards(props: {
  lang: Lang;
  calendar: CalendarKind;
  overview: Schemas["Overview"];
  bySource: Record<Source, Schemas["Overview"]>;
}) {
  const t = texts(props.lang);
  const { range } = props.overview;
  const titles: Record<PeriodKey, string> = {
    range: formatRange(props.lang, props.calendar, range.from, range.to),
    today: t.today,
    yesterday: t.yesterday,
    this_month: t.thisMonth,
    total: t.total,
  };
  const n = (v: number) => formatNumber(props.lang, v);
  const big = (v: number) =>
    v >= SHORTEN_FROM ? <abbr title={n(v)}>{formatShort(props.lang, v)}</abbr> : n(v);
  return (
    <section className="cards">
      {PERIODS.map((period) => {
        const all = props.overview[period];
        return (
          <article
            key={period}
            className="card"
            data-testid={`card-${period}`}
            data-pageviews={all.pageviews}
            data-visitors={all.visitors}
            data-events={all.events}
            data-visits={all.visits}
            data-bounce-rate={raw(all.bounce_rate)}
            data-visit-duration={raw(all.visit_duration)}
            data-views-per-visit={raw(all.views_per_visit)}
          >
            <h2>{titles[period]}</h2>
            <div className="big">
              <div>
                <span className="value" data-testid="pageviews">{big(all.pageviews)}</span>
                <span className="unit">{t.pageviews}</span>
                {all.previous && <Change lang={props.lang} previous={all.previous.pageviews} percent={all.change_percent?.pageviews} />}
              </div>
              <div>
                <span className="value" data-testid="visitors">{big(all.visitors)}</span>
                <span className="unit">{t.visitors}</span>
              </div>
              <div>
                <span className="value" data-testid="visits">{big(all.visits)}</span>
                <span className="unit">{t.visits}</span>
              </div>
            </div>
            <dl className="engagement">
              <div>
                <dt>{t.bounceRate}</dt>
                <dd data-testid="bounce-rate">{formatPercent(props.lang, all.bounce_rate)}</dd>
              </div>
              <div>
                <dt>{t.visitDuration}</dt>
                <dd data-testid="visit-duration">{formatDuration(props.lang, all.visit_duration)}</dd>
              </div>
              <div>
                <dt>{t.viewsPerVisit}</dt>
                <dd data-testid="views-per-visit">{formatDecimal(props.lang, all.views_per_visit)}</dd>
              </div>
            </dl>
            <table className="split">
              <thead>
                <tr>
                  <th />
                  <th>{t.pageviews}</th>
                  <th>{t.visitors}</th>
                  <th>{t.visits}</th>
                </tr>
              </thead>
              <tbody>
                {SOURCES.map((source) => {
                  const s = props.bySource[source][period];
                  return (
                    <tr key={source} data-source={source} data-pageviews={s.pageviews} data-visitors={s.visitors} data-visits={s.visits}>
                      <th>{t.sources[source]}</th>
                      <td>{big(s.pageviews)}</td>
                      <td>{big(s.visitors)}</td>
                      <td>{big(s.visits)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            <p className="events">
              {big(all.events)} {t.events}
            </p>
          </article>
        );
      })}
    </section>
  );
}

/** The change from the compared period: up or down in percent, or the earlier figure when it was 0. */
function Change(props: { lang: Lang; previous: number; percent: number | null | undefined }) {
  const t = texts(props.lang);
  const { percent } = props;
  const text =
    percent == null
      ? `${t.before}: ${formatNumber(props.lang, props.previous)}`
      : `${percent >= 0 ? "▲" : "▼"} ${formatNumber(props.lang, Math.abs(percent))}%`;
  const direction = percent == null ? "" : percent >= 0 ? "up" : "down";
  return (
    <span className={`change ${direction}`} data-testid="change" data-previous={props.previous} data-percent={percent ?? ""}>
      {text}
    </span>
  );
}
