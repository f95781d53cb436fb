import { fieldAria } from './field.js';

/**
 * A day typed as the console writes dates everywhere (YYYY-MM-DD, as in formatTime), not the browser's
 * date picker, which shows the viewer's locale order (12/07/2026) beside tables in ISO order.
 */
export function DayInput({
  id,
  name,
  value,
  error,
}: {
  id: string;
  name: string;
  value: string;
  error?: string | undefined;
}) {
  return (
    <input
      type="text"
      id={id}
      name={name}
      value={value}
      inputmode="numeric"
      placeholder="YYYY-MM-DD"
      maxlength={10}
      autocomplete="off"
      {...fieldAria(id, error)}
    />
  );
}

/**
 * The viewer's time zone as minutes east of UTC, sent with a filter form so its days are the viewer's
 * days, as its times are shown (layout.client.js fills it in; without script it stays UTC).
 */
export function TimeZoneField({ minutes }: { minutes: number }) {
  return <input type="hidden" name="tz" value={String(minutes)} data-tz="" />;
}

/** A `tz` query value as minutes east of UTC (0 when absent or not a real offset). */
export function timeZoneMinutes(raw: string | undefined): number {
  const n = Number(raw ?? '');
  return Number.isInteger(n) && Math.abs(n) <= 14 * 60 ? n : 0;
}
