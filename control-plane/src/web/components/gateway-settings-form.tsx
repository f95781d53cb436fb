import type { GatewaySettings } from '@ferry/shared';
import type { PageUser } from '../page-context.js';
import { Csrf, FieldError, fieldAria } from './field.js';
import {
  ownField,
  SETTING_ROWS,
  type SettingRow,
  settingSummary,
  settingText,
  settingValue,
  valueField,
} from './gateway-setting-rows.js';
import { IDENTITY_PARTS, type IdentityTexts, identityTexts } from './gateway-user-identity-form.js';
import { UserIdentityInput } from './gateway-user-identity-input.js';

/** Where a form's values come from: a facility over its group, or a group over the built-in defaults. */
export interface SettingsScope {
  kind: 'facility' | 'group';
  /** The stored settings of this scope (a facility's overrides, the group's defaults). */
  own: GatewaySettings;
  /** What a setting is when this scope does not set it: the group's value or the default. */
  inherited: (name: string) => unknown;
  /** Sentence under each setting saying how many gateways a change of it reaches. */
  reach: (row: SettingRow) => string;
}

/** A posted form shown again: the text typed, the boxes ticked, and the API's reasons per setting. */
export interface SettingsFormState {
  typed: Record<string, string>;
  own: Set<string>;
  problems: Record<string, string>;
}

const WORDS = {
  facility: { own: 'Set for this facility', from: 'the group', reset: 'Reset to group default' },
  group: { own: 'Set for the group', from: 'the built-in default', reset: 'Reset to built-in default' },
};

function SettingInput({ row, text, error }: { row: SettingRow; text: string; error: string | undefined }) {
  const aria = fieldAria(row.id, error, true);
  if (row.input === 'number')
    return (
      <input
        type="number"
        id={row.id}
        name={valueField(row)}
        value={text}
        min={row.bounds?.min}
        max={row.bounds?.max}
        step={row.bounds?.integer ? 1 : 'any'}
        {...aria}
      />
    );
  if (row.input === 'choice')
    return (
      <select id={row.id} name={valueField(row)} {...aria}>
        {row.choices.map((c) => (
          <option value={c} selected={c === text}>
            {c}
          </option>
        ))}
      </select>
    );
  return (
    <textarea
      id={row.id}
      name={valueField(row)}
      rows={row.input === 'list' ? 3 : 4}
      class={row.input === 'json' ? 'code' : undefined}
      spellcheck={false}
      {...aria}
    >
      {text}
    </textarea>
  );
}

/** The userIdentity fields' text: as typed when the form comes back, else the value in force. */
function identityShown(
  row: SettingRow,
  isOwn: boolean,
  state: SettingsFormState | undefined,
  value: unknown,
): IdentityTexts {
  const typed = state?.typed[`${row.name}.require`];
  if (typed === undefined || (!isOwn && typed === '')) return identityTexts(value);
  return Object.fromEntries(
    IDENTITY_PARTS.map((p) => [p, state?.typed[`${row.name}.${p}`] ?? '']),
  ) as IdentityTexts;
}

/** One setting: its input, whether the value is this scope's own or inherited, and its reach. */
function SettingBlock({
  row,
  scope,
  state,
}: {
  row: SettingRow;
  scope: SettingsScope;
  state: SettingsFormState | undefined;
}) {
  const stored = settingValue(scope.own, row.name);
  const isOwn = state ? state.own.has(row.name) : stored !== undefined;
  const inherited = scope.inherited(row.name);
  // An inherited setting shows the value it inherits, so ticking it as own starts from that value.
  const typed = state?.typed[row.name];
  const text = typed !== undefined && (isOwn || typed !== '') ? typed : settingText(row, stored ?? inherited);
  const error = state?.problems[row.name];
  const words = WORDS[scope.kind];
  return (
    <div class="setting" data-setting={row.name} data-source={isOwn ? 'own' : 'inherited'}>
      <label for={row.id}>{row.label}</label>
      <p class="muted" id={`${row.id}-hint`}>
        {row.hint}
      </p>
      {row.input === 'user-identity' ? (
        <UserIdentityInput
          row={row}
          texts={identityShown(row, isOwn, state, stored ?? inherited)}
          error={error}
        />
      ) : (
        <SettingInput row={row} text={text} error={error} />
      )}
      <FieldError id={`${row.id}-error`} message={error} />
      <p class="setting-source" id={`${row.id}-source`}>
        {isOwn ? (
          <>
            <strong>Own value.</strong> Without it: {settingSummary(row, inherited)}, from {words.from}.
          </>
        ) : (
          <>
            <strong>Inherited</strong> from {words.from}: {settingSummary(row, inherited)}.
          </>
        )}{' '}
        <span id={`${row.id}-reach`}>{scope.reach(row)}</span>
      </p>
      <div class="setting-actions">
        <label>
          <input type="checkbox" name={ownField(row)} value="1" checked={isOwn} data-own="" /> {words.own}
        </label>
        {isOwn && stored !== undefined ? (
          <button type="submit" name="reset" value={row.name} class="secondary">
            {words.reset}
          </button>
        ) : null}
      </div>
    </div>
  );
}

/**
 * Every gateway setting of a scope in one form, checked as typed by `validateAction` (the save's own
 * schema, server-side) and saved by `action`.
 */
export function GatewaySettingsForm(props: {
  user: PageUser;
  action: string;
  validateAction: string;
  scope: SettingsScope;
  state?: SettingsFormState | undefined;
  /** What saving reaches, said once above the settings. */
  intro: string;
}) {
  const { user, action, validateAction, scope, state, intro } = props;
  const general = state?.problems[''];
  return (
    <form method="post" action={action} novalidate data-settings-form="" data-validate={validateAction}>
      <Csrf user={user} />
      <p id="settings-reach">{intro}</p>
      {general ? (
        <p class="field-error" role="alert">
          {general}
        </p>
      ) : null}
      {/* The first submit button is the one Enter presses: Save, not a reset. */}
      <button type="submit">Save gateway settings</button>
      {SETTING_ROWS.map((row) => (
        <SettingBlock row={row} scope={scope} state={state} />
      ))}
      <button type="submit">Save gateway settings</button>
    </form>
  );
}

/** The settings as a reader sees them: values and where each comes from, nothing to edit. */
export function GatewaySettingsList({ scope }: { scope: SettingsScope }) {
  return (
    <dl class="facts settings-list">
      {SETTING_ROWS.map((row) => {
        const stored = settingValue(scope.own, row.name);
        return (
          <>
            <dt>{row.label}</dt>
            <dd data-setting={row.name} data-source={stored === undefined ? 'inherited' : 'own'}>
              <code>{settingSummary(row, stored ?? scope.inherited(row.name))}</code>{' '}
              {stored === undefined ? `(inherited from ${WORDS[scope.kind].from})` : ''}
            </dd>
          </>
        );
      })}
    </dl>
  );
}
