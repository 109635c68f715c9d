import type { Schemas } from "@/lib/query";
import { type Lang, formatNumber, texts } from "@/lib/i18n";

/** The app's release health: per version, requests, the share answered 5xx and 4xx, and response times. */
export function ReleaseHealthPanel({ versions, lang }: { versions: Schemas["AppVersions"]; lang: Lang }) {
  const t = texts(lang);
  const percent = (v: number | null | undefined) => (v == null ? "–" : `${formatNumber(lang, v)}%`);
  const ms = (v: number | null | undefined) => (v == null ? "–" : `${formatNumber(lang, v)} ${t.ms}`);
  return (
    <section className="panel" data-testid="release-health">
      <h2>{t.releaseHealth}</h2>
      <table>
        <thead>
          <tr>
            <th>{t.version}</th>
            <th className="num">{t.requests}</th>
            <th className="num">{t.serverErrors}</th>
            <th className="num">{t.clientErrors}</th>
            <th className="num">{t.p50}</th>
            <th className="num">{t.p95}</th>
          </tr>
        </thead>
        <tbody>
          {versions.results.map((v) => (
            <tr
              key={v.version}
              data-testid="release-health-row"
              data-version={v.version}
              data-requests={v.requests}
              data-server-error-rate={v.server_error_rate ?? ""}
              data-client-error-rate={v.client_error_rate ?? ""}
              data-p95={v.response.p95_ms ?? ""}
            >
              <td className="name">
                <bdi dir="ltr">{v.version}</bdi>
              </td>
              <td className="num">{formatNumber(lang, v.requests)}</td>
              <td className="num">{percent(v.server_error_rate)}</td>
              <td className="num">{percent(v.client_error_rate)}</td>
              <td className="num">{ms(v.response.p50_ms)}</td>
              <td className="num">{ms(v.response.p95_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
