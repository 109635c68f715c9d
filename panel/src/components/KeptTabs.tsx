import { RankTable } from "@/components/RankTable";
import { Switch } from "@/components/Switch";
import { type Lang, type Texts, formatNumber } from "@/lib/i18n";
import type { KeptTab, Schemas } from "@/lib/query";
import { type Choice, TABS } from "@/lib/view";

/**
 * What is answered from the kept events, one tab at a time (only the open
 * tab's figures are asked for): goals with their conversion rates, the
 * custom properties and their values, and the saved funnels.
 */
export function KeptTabs(props: {
  lang: Lang;
  t: Texts;
  kept: KeptTab;
  href: (choice: Choice) => string;
  /** The view narrowed to one more value (a segment). */
  narrow: (dimension: string) => (value: string) => string | undefined;
}) {
  const { lang, t, kept, href } = props;
  return (
    <section className="panel kept" data-testid="kept" data-tab={kept.tab}>
      <div className="panel-head">
        <h2>{t.keptTabs}</h2>
        <Switch
          id="tab"
          label={t.keptTabs}
          current={kept.tab}
          options={TABS.map((tab) => ({ value: tab, label: t.tabs[tab], href: href({ tab }) }))}
        />
      </div>
      {kept.tab === "goals" && <GoalsPanel lang={lang} t={t} goals={kept.goals} />}
      {kept.tab === "properties" && <PropertiesPanel {...props} kept={kept} />}
      {kept.tab === "funnels" && <FunnelPanel lang={lang} t={t} kept={kept} href={href} />}
    </section>
  );
}

/** The site's goals with their conversions over the range. */
function GoalsPanel({ lang, t, goals }: { lang: Lang; t: Texts; goals: Schemas["Goals"] }) {
  if (goals.results.length === 0) return <Hint text={t.noGoals} />;
  return (
    <table data-testid="goals">
      <thead>
        <tr>
          <th>{t.goals}</th>
          <th className="num">{t.conversions}</th>
          <th className="num">{t.visitors}</th>
          <th className="num">{t.conversionRate}</th>
        </tr>
      </thead>
      <tbody>
        {goals.results.map((g) => (
          <tr key={`${g.kind}:${g.goal}`} data-testid="goals-row" data-goal={g.goal} data-visitors={g.visitors} data-rate={g.conversion_rate}>
            <td className="name">
              <bdi dir="ltr">{g.goal}</bdi>
            </td>
            <td className="num">{formatNumber(lang, g.conversions)}</td>
            <td className="num">{formatNumber(lang, g.visitors)}</td>
            <td className="num">{formatNumber(lang, g.conversion_rate)}%</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A property's values (the chosen key's, else the most used one's), each a segment link. */
function PropertiesPanel(props: {
  lang: Lang;
  t: Texts;
  kept: Extract<KeptTab, { tab: "properties" }>;
  href: (choice: Choice) => string;
  narrow: (dimension: string) => (value: string) => string | undefined;
}) {
  const { lang, t, kept } = props;
  if (kept.key === undefined || !kept.values) return <Hint text={t.noProperties} />;
  const key = kept.key;
  return (
    <>
      <Switch
        id="prop-key"
        label={t.property}
        current={key}
        options={kept.keys.results.map((k) => ({ value: k.key, label: k.key, href: props.href({ prop: k.key }) }))}
      />
      <RankTable
        id="prop-values"
        title={`${t.property}: ${key}`}
        lang={lang}
        valueHeading={t.value}
        rankBy="events"
        rows={kept.values.results.map((r) => ({
          key: r.value,
          label: <bdi>{r.value}</bdi>,
          pageviews: r.pageviews,
          visitors: r.visitors,
          events: r.events,
          data: { value: r.value },
          filterHref: props.narrow(`prop:${key}`)(r.value),
        }))}
      />
    </>
  );
}

/** A saved funnel: visitors per step in order, each step's share of the first and its drop-off. */
function FunnelPanel(props: {
  lang: Lang;
  t: Texts;
  kept: Extract<KeptTab, { tab: "funnels" }>;
  href: (choice: Choice) => string;
}) {
  const { lang, t, kept } = props;
  const funnel = kept.funnel;
  if (!funnel) return <Hint text={t.noFunnels} />;
  const first = Math.max(1, funnel.steps[0]?.visitors ?? 0);
  return (
    <>
      <Switch
        id="funnel-name"
        label={t.funnel}
        current={funnel.name ?? ""}
        options={kept.saved.results.map((f) => ({ value: f.name, label: f.name, href: props.href({ funnel: f.name }) }))}
      />
      <table data-testid="funnel" data-name={funnel.name ?? ""}>
        <thead>
          <tr>
            <th>{t.step}</th>
            <th className="num">{t.visitors}</th>
            <th className="num">{t.conversionRate}</th>
            <th className="num">{t.dropoff}</th>
          </tr>
        </thead>
        <tbody>
          {funnel.steps.map((s, i) => (
            <tr key={`${i}:${s.step}`} data-testid="funnel-step" data-step={s.step} data-visitors={s.visitors} data-dropoff={s.dropoff}>
              <td className="name">
                <span className="share" style={{ inlineSize: `${(100 * s.visitors) / first}%` }} />
                <span className="label">
                  {formatNumber(lang, i + 1)}. <bdi dir="ltr">{s.step}</bdi>
                </span>
              </td>
              <td className="num">{formatNumber(lang, s.visitors)}</td>
              <td className="num">{formatNumber(lang, s.conversion_rate)}%</td>
              <td className="num">
                {i === 0 ? "" : `${formatNumber(lang, s.dropoff)} (${formatNumber(lang, s.dropoff_rate)}%)`}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** What to do when a tab has nothing yet (the commands are shown as they are typed). */
function Hint({ text }: { text: string }) {
  return (
    <p className="empty" data-testid="kept-empty">
      <bdi>{text}</bdi>
    </p>
  );
}
