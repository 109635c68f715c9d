import Link from "next/link";
import type { ReactNode } from "react";

import { type Lang, formatNumber, texts } from "@/lib/i18n";

export interface RankRow {
  key: string;
  label: ReactNode;
  /** A second line under the label (a page's title). */
  detail?: ReactNode;
  pageviews: number;
  visitors: number;
  events?: number;
  /** Visits that began or ended on the row's page (entry and exit pages). */
  visits?: number;
  /** data-* attributes for tests and for the owner's own scripts. */
  data?: Record<string, string>;
  /** The view narrowed to this row (a segment), when it can be. */
  filterHref?: string;
}

/** What a table ranks by: its number column, and the width of the share bars. */
export type RankBy = "pageviews" | "events" | "visits";

/** A ranked list with a share bar behind each row. */
export function RankTable(props: {
  id: string;
  title: string;
  lang: Lang;
  rows: RankRow[];
  valueHeading: string;
  /** Pageviews (default), events (custom events) or visits (entry and exit pages, without a visitors column). */
  rankBy?: RankBy;
  /** Where the table downloads as CSV. */
  exportHref?: string;
}) {
  const t = texts(props.lang);
  const rankBy = props.rankBy ?? "pageviews";
  const value = (r: RankRow) => (rankBy === "pageviews" ? r.pageviews : (r[rankBy] ?? 0));
  const withVisitors = rankBy !== "visits";
  const heading = { pageviews: t.pageviews, events: t.events, visits: t.visits }[rankBy];
  const max = Math.max(1, ...props.rows.map(value));
  return (
    <section className="panel" data-testid={props.id}>
      <div className="panel-head">
        <h2>{props.title}</h2>
        {props.exportHref && <ExportLink href={props.exportHref} label={t.csv} />}
      </div>
      {props.rows.length === 0 ? (
        <p className="empty">{t.noData}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>{props.valueHeading}</th>
              <th className="num">{heading}</th>
              {withVisitors && <th className="num">{t.visitors}</th>}
            </tr>
          </thead>
          <tbody>
            {props.rows.map((r) => (
              <tr
                key={r.key}
                data-testid={`${props.id}-row`}
                data-pageviews={r.pageviews}
                data-visitors={r.visitors}
                data-events={r.events ?? 0}
                data-visits={r.visits ?? 0}
                {...Object.fromEntries(Object.entries(r.data ?? {}).map(([k, v]) => [`data-${k}`, v]))}
              >
                <td className="name">
                  <span className="share" style={{ inlineSize: `${(100 * value(r)) / max}%` }} />
                  {r.filterHref ? (
                    <Link className="label" href={r.filterHref} title={t.filterBy} data-testid={`${props.id}-filter`}>
                      {r.label}
                    </Link>
                  ) : (
                    <span className="label">{r.label}</span>
                  )}
                  {r.detail ? <span className="detail">{r.detail}</span> : null}
                </td>
                <td className="num">{formatNumber(props.lang, value(r))}</td>
                {withVisitors && <td className="num">{formatNumber(props.lang, r.visitors)}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** A download of the table (or chart) it sits beside, as CSV. */
export function ExportLink({ href, label }: { href: string; label: string }) {
  return (
    <a className="export" href={href} download data-testid="export">
      {label}
    </a>
  );
}
