import {
  type ConsoleInput,
  GATEWAY_CONFIG_DEFAULTS,
  type GatewaySettings,
  PUSHED_SETTINGS,
  type PushedSetting,
  type PushedSettingName,
} from '@ferry/shared';
import { IDENTITY_PARTS, type IdentityTexts, identityValue } from './gateway-user-identity-form.js';

/**
 * The gateway settings the console edits, one per PUSHED_SETTINGS row a group and its facilities set:
 * a row added to the table shows up here by itself (as a JSON box until it is given a console field).
 * This module only turns typed text into values and back; whether a value is valid is decided by the
 * same schema the save runs (services/gateway-config.ts gatewaySettingsProblems), never here.
 */
export interface SettingRow {
  name: PushedSettingName;
  label: string;
  hint: string;
  input: ConsoleInput;
  /** A choice's options, from its schema. */
  choices: readonly string[];
  /** A number's bounds, for the browser's spin buttons only. */
  bounds: PushedSetting['bounds'];
  /** The id of its input and the stem of its form names (`upload.parallelism` → `upload-parallelism`). */
  id: string;
}

/** An enum's options, or a discriminated union's discriminator values (userIdentity's `require`). */
function choicesOf(row: PushedSetting): readonly string[] {
  const schema = row.schema as { options?: unknown; def?: { discriminator?: unknown } };
  if (!Array.isArray(schema.options)) return [];
  const key = schema.def?.discriminator;
  if (typeof key !== 'string') return schema.options.map(String);
  return schema.options.map((o: { shape?: Record<string, { value?: unknown }> }) =>
    String(o.shape?.[key]?.value),
  );
}

export const SETTING_ROWS: readonly SettingRow[] = (
  Object.entries(PUSHED_SETTINGS) as [PushedSettingName, PushedSetting][]
)
  .filter(([, row]) => row.appliesTo === 'group and facility')
  .map(([name, row]) => ({
    name,
    label: row.console?.label ?? name,
    hint: row.console?.hint ?? `The ${name} setting, as JSON.`,
    input: row.console?.input ?? (row.bounds ? 'number' : 'json'),
    choices: choicesOf(row),
    bounds: row.bounds,
    id: `setting-${name.replace(/\./g, '-')}`,
  }));

/** The value of setting `name` in stored settings (`upload.parallelism` is `upload.parallelism`), if set. */
export function settingValue(settings: GatewaySettings | Record<string, unknown>, name: string): unknown {
  let v: unknown = settings;
  for (const key of name.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** What a gateway runs for `name` when neither group nor facility sets it. */
export function builtInDefault(name: string): unknown {
  return settingValue(GATEWAY_CONFIG_DEFAULTS as Record<string, unknown>, name);
}

/** A value as the text its input shows. */
export function settingText(row: SettingRow, value: unknown): string {
  if (value === undefined) return '';
  if (row.input === 'list' && Array.isArray(value)) return value.map(String).join('\n');
  if (row.input === 'number' || row.input === 'choice') return String(value);
  return JSON.stringify(value, null, 2);
}

/** A value in one line, for a sentence ("inherits 4104 from the group"). */
export function settingSummary(row: SettingRow, value: unknown): string {
  if (Array.isArray(value) && value.length === 0) return 'none';
  if (row.input === 'list' && Array.isArray(value))
    return value.length > 4
      ? `${value.slice(0, 3).map(String).join(', ')} and ${value.length - 3} more`
      : value.map(String).join(', ');
  return row.input === 'json' || row.input === 'user-identity' ? JSON.stringify(value) : String(value);
}

/** Form field names: the typed value, and the box that says the value is this scope's own. */
export const valueField = (row: SettingRow) => `value.${row.name}`;
export const ownField = (row: SettingRow) => `own.${row.name}`;

/** A settings form as posted: the settings it sets, and what could not even be read as a value. */
export interface ParsedSettingsForm {
  settings: Record<string, unknown>;
  /** The text of every field as typed, to show again (a userIdentity part as `userIdentity.require`). */
  typed: Record<string, string>;
  /** Which settings were ticked as this scope's own. */
  own: Set<string>;
  /** Text that is not a value of the input's kind at all (JSON that does not parse). */
  unreadable: { setting: string; message: string }[];
}

function readValue(row: SettingRow, raw: string, parts: IdentityTexts): unknown {
  const text = raw.trim();
  switch (row.input) {
    case 'number':
      // Not a number at all reaches the schema as NaN, so the refusal is in its words.
      return text === '' ? Number.NaN : Number(text);
    case 'choice':
      return text;
    case 'list':
      return raw
        .split(/\r?\n/)
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'json':
      try {
        return JSON.parse(text);
      } catch (err) {
        throw new Error(`is not JSON: ${(err as Error).message}`);
      }
    case 'user-identity':
      return identityValue(parts);
  }
}

/**
 * The settings a form sets: each row ticked as own (and not the one a "reset" button names) with its
 * typed value, nested as the API takes them (`upload.parallelism` inside `upload`).
 */
export function parseSettingsForm(form: Record<string, unknown>): ParsedSettingsForm {
  const text = (k: string) => (typeof form[k] === 'string' ? (form[k] as string) : '');
  const reset = text('reset');
  const parsed: ParsedSettingsForm = { settings: {}, typed: {}, own: new Set(), unreadable: [] };
  for (const row of SETTING_ROWS) {
    const raw = text(valueField(row));
    parsed.typed[row.name] = raw;
    const parts = Object.fromEntries(
      IDENTITY_PARTS.map((p) => [p, text(`${valueField(row)}.${p}`)]),
    ) as IdentityTexts;
    if (row.input === 'user-identity')
      for (const p of IDENTITY_PARTS) parsed.typed[`${row.name}.${p}`] = parts[p];
    if (text(ownField(row)) === '' || row.name === reset) continue;
    parsed.own.add(row.name);
    let value: unknown;
    try {
      value = readValue(row, raw, parts);
    } catch (err) {
      parsed.unreadable.push({ setting: row.name, message: (err as Error).message });
      continue;
    }
    const [head, field] = row.name.split('.') as [string, string | undefined];
    if (field === undefined) parsed.settings[head] = value;
    else parsed.settings[head] = { ...(parsed.settings[head] as object | undefined), [field]: value };
  }
  return parsed;
}
