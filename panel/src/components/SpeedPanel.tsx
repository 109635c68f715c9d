import type { Schemas } from "@/lib/query";
import { type Lang, formatNumber, readablePath, texts } from "@/lib/i18n";

const METRICS = ["load_ms", "ttfb_ms", "response_ms"] as const;

/** p50 and p95 of each timing the site reports, overall and for its most-viewed pages. */
export function SpeedPanel({ speed, lang }: { speed: Schemas["Speed"]; lang: Lang }) {
  const t = texts(lang);
  const ms = (v: number | null | undefined) => (v == null ? "–" : `${formatNumber(lang, v)} ${t.ms}`);
  const metrics = METRICS.filter((m) => speed.overall[m]);
  return (
    <section className="panel speed" data-testid="speed">
      <h2>{t.speed}</h2>
      {metrics.length === 0 ? (
        <p className="empty">{t.noData}</p>
      ) : (
        <>
          <div className="speed-metrics">
            {metrics.map((m) => {
              const s = speed.overall[m]!;
              return (
                <div key={m} className="metric" data-testid={`speed-${m}`} data-p50={s.p50_ms ?? ""} data-p95={s.p95_ms ?? ""}>
                  <h3>{t.metric[m]}</h3>
                  <dl>
                    <dt>{t.p50}</dt>
                    <dd>{ms(s.p50_ms)}</dd>
                    <dt>{t.p95}</dt>
                    <dd>{ms(s.p95_ms)}</dd>
                  </dl>
                  <small>
                    {formatNumber(lang, s.count)} {t.measurements}
                  </small>
                </div>
              );
            })}
          </div>
          {speed.pages.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th>{t.page}</th>
                  <th className="num">{t.p50}</th>
                  <th className="num">{t.p95}</th>
                </tr>
              </thead>
              <tbody>
                {speed.pages.slice(0, 8).map((p) => {
                  const s = p.load_ms ?? p.ttfb_ms ?? p.response_ms;
                  return (
                    <tr key={p.path}>
                      <td className="name" dir="ltr">
                        {readablePath(p.path)}
                      </td>
                      <td className="num">{ms(s?.p50_ms)}</td>
                      <td className="num">{ms(s?.p95_ms)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
