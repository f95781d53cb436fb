import { fieldAria } from './field.js';
import { type SettingRow, valueField } from './gateway-setting-rows.js';
import type { IdentityTexts } from './gateway-user-identity-form.js';

/** One part of the userIdentity editor: a labelled one-line or multi-line text field. */
function Part(props: {
  row: SettingRow;
  part: keyof IdentityTexts;
  label: string;
  value: string;
  rows?: number;
  mode: string;
}) {
  const { row, part, label, value, rows, mode } = props;
  const id = `${row.id}-${part}`;
  const name = `${valueField(row)}.${part}`;
  return (
    <div class="identity-part" data-identity-mode={mode}>
      <label for={id}>{label}</label>
      {rows ? (
        <textarea
          id={id}
          name={name}
          rows={rows}
          spellcheck={false}
          class={part === 'jwks' ? 'code' : undefined}
        >
          {value}
        </textarea>
      ) : (
        <input type="text" id={id} name={name} value={value} spellcheck={false} />
      )}
    </div>
  );
}

/** The parts after the requirement, each shown for the requirement that uses it. */
const PARTS: { part: keyof IdentityTexts; label: string; rows?: number; mode: string }[] = [
  { part: 'usernames', label: 'Usernames, one a line (none: any username)', rows: 3, mode: 'username' },
  {
    part: 'users',
    label: 'Users, one a line: username, a space, then the hash `ferry-agent hash-password` printed',
    rows: 3,
    mode: 'username-password',
  },
  { part: 'jwks', label: 'JWT signing keys (a JWKS, JSON)', rows: 4, mode: 'jwt' },
  { part: 'issuer', label: 'JWT issuer (optional)', mode: 'jwt' },
  { part: 'audience', label: 'JWT audience (optional)', mode: 'jwt' },
];

/**
 * The userIdentity requirement as fields: which identity a sender must give, then the parts that
 * requirement uses (the script shows only those). Password hashes come from `ferry-agent hash-password`;
 * a password itself is never typed here.
 */
export function UserIdentityInput({
  row,
  texts,
  error,
}: {
  row: SettingRow;
  texts: IdentityTexts;
  error: string | undefined;
}) {
  return (
    <>
      <select
        id={row.id}
        name={`${valueField(row)}.require`}
        data-identity-require=""
        {...fieldAria(row.id, error, true)}
      >
        {row.choices.map((c) => (
          <option value={c} selected={c === texts.require}>
            {c}
          </option>
        ))}
      </select>
      {PARTS.map((p) => (
        <Part row={row} value={texts[p.part]} {...p} />
      ))}
    </>
  );
}
