import type { HealthReport } from '@ferry/shared';
import { StackTable } from '../../components/stack-table.js';
import { When } from './gateway-facts.js';

type AliasUse = NonNullable<HealthReport['dicom']['aeTitleAliases']>[number];

/**
 * The facility's old AE titles the gateway still accepts, with the associations still calling each:
 * a count above zero means a modality still needs reconfiguring before the alias expires. Shown only
 * while the gateway reports an alias.
 */
export function AeTitleAliasUse({ health }: { health: HealthReport | null | undefined }) {
  const aliases: AliasUse[] = health?.dicom.aeTitleAliases ?? [];
  if (aliases.length === 0) return null;
  return (
    <section aria-labelledby="gw-aliases">
      <h2 id="gw-aliases">Old AE titles still accepted</h2>
      <p>
        Modalities that still call an old title keep working until it expires, then are refused. Counts are
        since the gateway last started.
      </p>
      <StackTable
        label="Old AE titles still accepted"
        columns={['Old AE title', 'Accepted until', 'Associations', 'Last association']}
        scrolls={false}
      >
        {aliases.map((a) => (
          <tr data-alias={a.aeTitle}>
            <td data-label="Old AE title">
              <code>{a.aeTitle}</code>
            </td>
            <td data-label="Accepted until">
              <When at={a.expiresAt} />
            </td>
            <td data-label="Associations">
              {a.associations}
              {a.associations === 0 ? <span class="muted"> (no modality calls it)</span> : null}
            </td>
            <td data-label="Last association">
              <When at={a.lastAt} />
            </td>
          </tr>
        ))}
      </StackTable>
    </section>
  );
}
