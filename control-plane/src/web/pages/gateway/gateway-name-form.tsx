import { GATEWAY_NAME_MAX } from '@ferry/shared';
import type { GatewayDetail } from '../../../services/get-gateway.js';
import { Csrf, fieldAria, Labelled } from '../../components/field.js';
import type { PageUser } from '../../page-context.js';

/** What the rename form shows again after a refusal: the typed value and why. */
export interface RenameForm {
  value: string;
  error: string;
}

/**
 * The gateway's name and host, and the rename form (the page is for admins only). A revoked gateway
 * keeps its name: the form is left out.
 */
export function GatewayNameSection({
  user,
  g,
  form,
}: {
  user: PageUser;
  g: Pick<GatewayDetail, 'id' | 'name' | 'hostname' | 'revokedAt'>;
  form?: RenameForm | undefined;
}) {
  return (
    <section aria-labelledby="gw-name">
      <h2 id="gw-name">Name</h2>
      <dl class="facts">
        <dt>Name</dt>
        <dd data-gateway="name">{g.name}</dd>
        <dt>Host name</dt>
        <dd>
          <code>{g.hostname}</code>
        </dd>
      </dl>
      {g.revokedAt ? null : (
        <form method="post" action={`/gateways/${g.id}/name`} class="card" aria-labelledby="gw-rename">
          <h3 id="gw-rename">Rename</h3>
          <Csrf user={user} />
          <Labelled
            id="gateway-name"
            label="New name"
            hint={`1 to ${GATEWAY_NAME_MAX} characters, unique within the facility.`}
            error={form?.error}
          >
            <input
              id="gateway-name"
              name="name"
              type="text"
              required
              maxlength={GATEWAY_NAME_MAX}
              value={form?.value ?? g.name}
              {...fieldAria('gateway-name', form?.error, true)}
            />
          </Labelled>
          <button type="submit">Rename gateway</button>
        </form>
      )}
    </section>
  );
}
