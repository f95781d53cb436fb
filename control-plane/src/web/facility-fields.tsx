import { FerryError, PUSHED_SETTINGS, type PushedSettingName } from '@ferry/shared';
import { Moment } from './components/moment.js';

/** Small helpers the facilities, users and audit pages share. */

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path id that is not a UUID names nothing in any group: the same 404 as another group's id. */
export function requireUuid(id: string, what: string): string {
  if (!UUID_RE.test(id)) throw new FerryError('resource.not_found', `no ${what} ${id} in your group`);
  return id;
}

/** A text field of a parsed form ('' when absent or a file). */
export function formText(form: Record<string, unknown>, name: string): string {
  const v = form[name];
  return typeof v === 'string' ? v : '';
}

/** A whole number typed into a form, or NaN (so the service's own rule reports it). */
export function formInt(raw: string): number {
  const t = raw.trim();
  return /^-?\d+$/.test(t) ? Number(t) : Number.NaN;
}

/** A time as the console writes every time (Moment), or "never". */
export function When({ at }: { at: Date | null | undefined }) {
  if (!at) return <span class="muted">never</span>;
  return <Moment at={at} />;
}

/** The pushed settings the console lets an admin type in: a row of the table with a console field and bounds. */
export type ConsoleSettingName = {
  [N in PushedSettingName]: (typeof PUSHED_SETTINGS)[N] extends { console: object; bounds: object }
    ? N
    : never;
}[PushedSettingName];

/** A pushed setting's number input: its label, hint and bounds from the table the API checks it by. */
export function settingInput(name: ConsoleSettingName) {
  const { console: field, bounds } = PUSHED_SETTINGS[name];
  return {
    label: field.label,
    hint: field.hint,
    attrs: {
      min: bounds.min,
      ...('max' in bounds ? { max: bounds.max } : {}),
      step: bounds.integer ? 1 : 'any',
      inputmode: 'numeric',
    },
  };
}
