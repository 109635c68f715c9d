"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useId, useRef, useState, useSyncExternalStore } from "react";

import {
  type CalendarKind,
  type Preset,
  type YearMonth,
  PRESETS,
  compareMonths,
  formatRange,
  monthGrid,
  monthOf,
  monthTitle,
  shiftMonth,
  weekdayNames,
} from "@/lib/calendar";
import { type Lang, localDigits } from "@/lib/i18n";

export interface PickerTexts {
  presets: Record<Preset, string>;
  /** The preset links as a group: "Period". */
  period: string;
  custom: string;
  apply: string;
  previousMonth: string;
  nextMonth: string;
  from: string;
  to: string;
  close: string;
}

export interface PeriodPickerProps {
  lang: Lang;
  calendar: CalendarKind;
  /** The site's local today (ISO); later days cannot be chosen. */
  today: string;
  /** The range shown, ISO days, inclusive. */
  from: string;
  to: string;
  /** The preset the range came from; none for a custom range. */
  preset?: Preset;
  /** This page, e.g. "/en". */
  path: string;
  /** The page's other URL parameters, encoded, without from, to and range; may be "". */
  query: string;
  texts: PickerTexts;
}

const noSubscription = () => () => {};

/** False on the server and while hydrating, true after: the month grid needs script to work. */
function useHydrated(): boolean {
  return useSyncExternalStore(noSubscription, () => true, () => false);
}

/**
 * The period: its label, the preset links and a custom range. The custom range
 * opens in a native popover (the browser closes it on Escape or a click
 * outside, and opens it without script): a month grid in the panel's calendar,
 * where the first click picks the start and the second the end, and a plain
 * GET form with two dates for a browser without script.
 */
export function PeriodPicker(props: PeriodPickerProps) {
  const { lang, calendar, today, from, to, texts: t } = props;
  const router = useRouter();
  const hydrated = useHydrated();
  const popoverId = useId();
  const popover = useRef<HTMLDivElement>(null);
  const [shown, setShown] = useState<YearMonth>(() => monthOf(calendar, to));
  const [start, setStart] = useState<string | null>(null);
  const href = (params: string) => `${props.path}?${props.query ? `${props.query}&` : ""}${params}`;

  function pick(iso: string) {
    if (!start) return setStart(iso);
    const [a, b] = start <= iso ? [start, iso] : [iso, start];
    popover.current?.hidePopover();
    router.push(href(`from=${a}&to=${b}`), { scroll: false });
  }

  // Opening shows the range's last month; closing forgets a half-chosen range.
  function onToggle(open: boolean) {
    if (open) setShown(monthOf(calendar, to));
    else setStart(null);
  }

  // While the end is being chosen, only the chosen start is marked.
  const [low, high] = start ? [start, start] : [from, to];
  const canGoNext = compareMonths(shown, monthOf(calendar, today)) < 0;

  return (
    <div className="period-picker" data-testid="period-picker">
      <span className="picker-label" data-testid="picker-label">
        {formatRange(lang, calendar, from, to)}
      </span>
      <nav className="switch picker-presets" aria-label={t.period}>
        {PRESETS.map((p) => (
          <Link
            key={p}
            href={href(`range=${p}`)}
            scroll={false}
            aria-current={p === props.preset ? "true" : undefined}
            data-testid={`preset-${p}`}
          >
            {t.presets[p]}
          </Link>
        ))}
      </nav>
      <button
        type="button"
        className="picker-open"
        popoverTarget={popoverId}
        aria-current={props.preset ? undefined : "true"}
        data-testid="picker-open"
      >
        {t.custom}
      </button>

      <div
        id={popoverId}
        ref={popover}
        popover="auto"
        className="picker-pop"
        role="dialog"
        aria-label={t.custom}
        onToggle={(e) => onToggle(e.newState === "open")}
      >
        {hydrated && (
          <>
            <div className="picker-head">
              <button type="button" aria-label={t.previousMonth} data-testid="picker-prev" onClick={() => setShown(shiftMonth(shown, -1))}>
                ‹
              </button>
              <strong data-testid="picker-month" aria-live="polite">
                {monthTitle(lang, calendar, shown)}
              </strong>
              <button
                type="button"
                aria-label={t.nextMonth}
                data-testid="picker-next"
                disabled={!canGoNext}
                onClick={() => setShown(shiftMonth(shown, 1))}
              >
                ›
              </button>
            </div>
            <table className="picker-grid">
              <thead>
                <tr>
                  {weekdayNames(lang, calendar).map((name, i) => (
                    <th key={i} scope="col">
                      {name}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {monthGrid(calendar, shown).map((week, w) => (
                  <tr key={w}>
                    {week.map((cell, i) => (
                      <td key={i}>
                        {cell && (
                          <button
                            type="button"
                            className={
                              [cell.iso >= low && cell.iso <= high && "in-range", (cell.iso === low || cell.iso === high) && "range-end"]
                                .filter(Boolean)
                                .join(" ") || undefined
                            }
                            disabled={cell.iso > today}
                            aria-current={cell.iso === today ? "date" : undefined}
                            aria-label={formatRange(lang, calendar, cell.iso, cell.iso)}
                            data-testid="picker-day"
                            data-date={cell.iso}
                            onClick={() => pick(cell.iso)}
                          >
                            {localDigits(lang, String(cell.day))}
                          </button>
                        )}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}

        {/* Works without script too; keyed so a new range resets its dates. */}
        <form key={`${from}/${to}`} className="picker-form" method="get" action={props.path} data-testid="picker-form">
          {[...new URLSearchParams(props.query)].map(([name, value], i) => (
            <input key={i} type="hidden" name={name} value={value} />
          ))}
          <label>
            {t.from}
            <input type="date" name="from" defaultValue={from} max={today} required />
          </label>
          <label>
            {t.to}
            <input type="date" name="to" defaultValue={to} max={today} required />
          </label>
          <button type="submit">{t.apply}</button>
        </form>
        <button type="button" className="picker-close" popoverTarget={popoverId} popoverTargetAction="hide">
          {t.close}
        </button>
      </div>
    </div>
  );
}
