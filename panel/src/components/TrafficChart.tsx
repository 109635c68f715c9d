import type { Schemas } from "@/lib/query";
import { type CalendarKind, formatRange } from "@/lib/calendar";
import { type Lang, formatCompact, formatNumber, localDigits, texts } from "@/lib/i18n";

const WIDTH = 960;
const HEIGHT = 260;
const PAD = { top: 16, bottom: 44, side: 60 };

/** "nice" upper bound of the axis: 1, 2 or 5 times a power of ten. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((m) => m >= value) ?? value;
}

/**
 * Pageviews as bars, visitors as a line and visits as a dashed line, in inline
 * SVG (no chart library).
 * Time runs in the reading direction: right to left in Persian.
 */
export function TrafficChart({
  chart,
  lang,
  calendar,
  imported,
}: {
  chart: Schemas["Chart"];
  lang: Lang;
  calendar: CalendarKind;
  /** The overview's imported ranges: those the chart shows get a note. */
  imported: Schemas["ImportedRange"][];
}) {
  const t = texts(lang);
  const points = chart.points;
  const n = points.length;
  if (n === 0) return <p className="empty">{t.noData}</p>;
  // With a comparison, the compared period's pageviews as a second series.
  const compared = points.some((p) => p.previous);
  const previous = (p: (typeof points)[number]) => p.previous?.pageviews ?? 0;
  const max = niceMax(Math.max(...points.map((p) => Math.max(p.pageviews, p.visitors, p.visits, previous(p)))));
  const plotWidth = WIDTH - 2 * PAD.side;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / n;
  const rtl = lang === "fa";
  const x = (i: number) => PAD.side + (rtl ? n - 1 - i : i) * slot + slot / 2;
  const y = (v: number) => PAD.top + plotHeight - (v / max) * plotHeight;
  const barWidth = Math.max(2, slot * 0.6);
  const labelEvery = Math.ceil(n / 8);
  const ticks = [0, max / 2, max];
  const polyline = (value: (p: (typeof points)[number]) => number) =>
    points.map((p, i) => `${x(i).toFixed(1)},${y(value(p)).toFixed(1)}`).join(" ");

  return (
    <figure className="chart" data-testid="chart" data-period={chart.period} data-calendar={chart.calendar}>
      {/* Coordinates are computed for both directions; SVG text anchors follow `direction`, so fix it. */}
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={t.chart} direction="ltr">
        {ticks.map((v) => (
          <g key={v} className="tick">
            <line x1={PAD.side} x2={WIDTH - PAD.side} y1={y(v)} y2={y(v)} />
            <text x={rtl ? WIDTH - PAD.side + 6 : PAD.side - 6} y={y(v) + 4} textAnchor={rtl ? "start" : "end"}>
              {formatCompact(lang, Math.round(v))}
            </text>
          </g>
        ))}
        {points.map((p, i) => (
          <g
            key={`${p.start} ${p.label}`}
            data-testid="chart-point"
            data-start={p.start}
            data-pageviews={p.pageviews}
            data-previous-pageviews={p.previous?.pageviews ?? ""}
            data-visitors={p.visitors}
            data-visits={p.visits}
            data-bounce-rate={p.bounce_rate ?? ""}
          >
            <rect
              className="bar"
              x={x(i) - barWidth / 2}
              y={y(p.pageviews)}
              width={barWidth}
              height={Math.max(0, PAD.top + plotHeight - y(p.pageviews))}
            >
              <title>{`${localDigits(lang, p.label)}: ${formatNumber(lang, p.pageviews)} ${t.pageviews}, ${formatNumber(lang, p.visitors)} ${t.visitors}, ${formatNumber(lang, p.visits)} ${t.visits}`}</title>
            </rect>
            {i % labelEvery === 0 && (
              <text className="label" x={x(i)} y={HEIGHT - PAD.bottom + 18} textAnchor="middle">
                {localDigits(lang, p.label)}
              </text>
            )}
          </g>
        ))}
        <polyline className="line" points={polyline((p) => p.visitors)} />
        {points.map((p, i) => (
          <circle key={`${p.start} ${p.label}`} className="dot" cx={x(i)} cy={y(p.visitors)} r={n > 40 ? 1.5 : 3} />
        ))}
        {/* Dashed and on top: where visits equal visitors, both lines still show. */}
        <polyline className="line visits-line" points={polyline((p) => p.visits)} />
        {compared && <polyline className="line previous-line" data-testid="previous-line" points={polyline(previous)} />}
      </svg>
      <figcaption>
        <span className="key bar-key" /> {t.pageviews}
        <span className="key line-key" /> {t.visitors}
        <span className="key visits-key" /> {t.visits}
        {compared && (
          <>
            <span className="key previous-key" /> {t.comparedPageviews}
          </>
        )}
      </figcaption>
      {imported
        .filter((r) => r.first_day <= points[n - 1].end && r.last_day >= points[0].start)
        .map((r) => (
          <p key={`${r.source} ${r.table}`} className="note" data-testid="imported-note">
            {t.imported(r.source, formatRange(lang, calendar, r.first_day, r.last_day))}
          </p>
        ))}
    </figure>
  );
}
