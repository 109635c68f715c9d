import { SOURCES, type Schemas, type Source } from "@/lib/query";
import { type Lang, formatDecimal, formatDuration, formatNumber, formatPercent, texts } from "@/lib/i18n";

const PERIODS = ["today", "yesterday", "this_month", "total"] as const;
type PeriodKey = (typeof PERIODS)[number];

/** A data-* value: the number as the service gave it, empty for null. */
const raw = (v: number | null | undefined) => (v == null ? "" : String(v));

/**
 * Today, yesterday, this month and total: pageviews, visitors and visits, how
 * engaged the visits were (bounce rate, average duration, views per visit),
 * and pageviews, visitors and visits split into web, mobile web and app.
 */
export function OverviewCards(props: {
  lang: Lang;
  overview: Schemas["Overview"];
  bySource: Record<Source, Schemas["Overview"]>;
}) {
  const t = texts(props.lang);
  const titles: Record<PeriodKey, string> = {
    today: t.today,
    yesterday: t.yesterday,
    this_month: t.thisMonth,
    total: t.total,
  };
  const n = (v: number) => formatNumber(props.lang, v);
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
                <span className="value" data-testid="pageviews">{n(all.pageviews)}</span>
                <span className="unit">{t.pageviews}</span>
                {all.previous && <Change lang={props.lang} previous={all.previous.pageviews} percent={all.change_percent?.pageviews} />}
              </div>
              <div>
                <span className="value" data-testid="visitors">{n(all.visitors)}</span>
                <span className="unit">{t.visitors}</span>
              </div>
              <div>
                <span className="value" data-testid="visits">{n(all.visits)}</span>
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
                      <td>{n(s.pageviews)}</td>
                      <td>{n(s.visitors)}</td>
                      <td>{n(s.visits)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            <p className="events">
              {n(all.events)} {t.events}
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
