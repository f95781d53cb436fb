import { DEFAULT_ENROLLMENT_TOKEN_HOURS } from '../../../services/create-enrollment-token.js';
import type { EnrollmentTokenSummary } from '../../../services/list-enrollment-tokens.js';
import { Csrf, Field } from '../../components/field.js';
import { StackTable } from '../../components/stack-table.js';
import { formInt, formText, When } from '../../facility-fields.js';
import type { PageUser } from '../../page-context.js';

/** The same bounds the enrollment-token API route enforces. */
const TOKEN_MAX_HOURS = 30 * 24;
const TOKEN_MAX_USES = 1000;

/** The new-token form as typed. */
export interface TokenFormValues {
  expiresInHours: string;
  maxUses: string;
}
export type TokenFormErrors = Partial<Record<keyof TokenFormValues, string>>;

export const TOKEN_FORM_DEFAULTS: TokenFormValues = {
  expiresInHours: String(DEFAULT_ENROLLMENT_TOKEN_HOURS),
  maxUses: '1',
};

/** The new-token form as service input, or the values with a reason for each field out of bounds. */
export function parseTokenForm(
  form: Record<string, unknown>,
):
  | { ok: true; expiresInHours: number; maxUses: number }
  | { ok: false; values: TokenFormValues; errors: TokenFormErrors } {
  const values = { expiresInHours: formText(form, 'expiresInHours'), maxUses: formText(form, 'maxUses') };
  const hours = formInt(values.expiresInHours);
  const uses = formInt(values.maxUses);
  const errors: TokenFormErrors = {};
  if (!(hours >= 1 && hours <= TOKEN_MAX_HOURS))
    errors.expiresInHours = `Expires in must be a whole number of hours from 1 to ${TOKEN_MAX_HOURS} (30 days)`;
  if (!(uses >= 1 && uses <= TOKEN_MAX_USES))
    errors.maxUses = `Uses must be a whole number from 1 to ${TOKEN_MAX_USES}`;
  if (errors.expiresInHours || errors.maxUses) return { ok: false, values, errors };
  return { ok: true, expiresInHours: hours, maxUses: uses };
}

function tokenState(t: EnrollmentTokenSummary, now: number): 'active' | 'used' | 'expired' | 'revoked' {
  if (t.revokedAt) return 'revoked';
  if (t.uses >= t.maxUses) return 'used';
  if (t.expiresAt.getTime() <= now) return 'expired';
  return 'active';
}

const STATE_BADGE = { active: 'online', used: 'info', expired: 'offline', revoked: 'revoked' } as const;

/** A facility's enrollment tokens: the form that creates one, and the list with a revoke button each. */
export function EnrollmentTokens({
  user,
  base,
  tokens,
  values,
  errors,
}: {
  user: PageUser;
  /** The facility page's path. */
  base: string;
  tokens: EnrollmentTokenSummary[];
  values: TokenFormValues;
  errors: TokenFormErrors;
}) {
  const now = Date.now();
  return (
    <section aria-labelledby="tokens-heading">
      <h2 id="tokens-heading">Enrollment tokens</h2>
      <p>A token lets a new gateway enroll into this facility. It is shown once, when you create it.</p>
      <form method="post" action={`${base}/enrollment-tokens`} class="narrow" novalidate>
        <Csrf user={user} />
        <Field
          id="expiresInHours"
          label="Expires in (hours)"
          type="number"
          value={values.expiresInHours}
          error={errors.expiresInHours}
          attrs={{ min: 1, max: TOKEN_MAX_HOURS, step: 1, inputmode: 'numeric' }}
        />
        <Field
          id="maxUses"
          label="Uses"
          type="number"
          value={values.maxUses}
          error={errors.maxUses}
          hint="How many gateways may enroll with it."
          attrs={{ min: 1, max: TOKEN_MAX_USES, step: 1, inputmode: 'numeric' }}
        />
        <button type="submit">Create enrollment token</button>
      </form>
      {tokens.length === 0 ? (
        <p class="muted">No enrollment tokens yet.</p>
      ) : (
        <StackTable
          label="Enrollment tokens"
          columns={['Token', 'Created', 'Expires', 'Uses left', 'State', 'Actions']}
        >
          {tokens.map((t) => {
            const st = tokenState(t, now);
            return (
              <tr>
                <td data-label="Token">
                  <code>{t.id.slice(0, 8)}</code>
                </td>
                <td data-label="Created">
                  <When at={t.createdAt} />
                </td>
                <td data-label="Expires">
                  <When at={t.expiresAt} />
                </td>
                <td data-label="Uses left">
                  {Math.max(t.maxUses - t.uses, 0)} of {t.maxUses}
                </td>
                <td data-label="State">
                  <span class={`badge ${STATE_BADGE[st]}`}>{st}</span>
                </td>
                <td data-label="Actions">
                  {st === 'active' ? (
                    <form
                      method="post"
                      action={`${base}/enrollment-tokens/${t.id}/revoke`}
                      data-confirm="Revoke this enrollment token? Gateways can no longer enroll with it."
                    >
                      <Csrf user={user} />
                      <button type="submit" class="secondary">
                        Revoke
                      </button>
                    </form>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </StackTable>
      )}
    </section>
  );
}
