import { z } from 'zod';
import { trimmedAeTitleSchema } from './ae-title-schema.js';

/** How long a facility's previous AE title stays accepted when the console keeps it as an alias. */
export const AE_TITLE_ALIAS_DEFAULT_DAYS = 7;
/** Longest transition the API allows: an alias is a bridge, not a second title. */
export const AE_TITLE_ALIAS_MAX_DAYS = 90;
export const AE_TITLE_ALIASES_MAX = 16;

/**
 * A title the facility's gateways still answer to until `expiresAt`, so modalities configured with
 * a previous AE title keep working while they are reconfigured.
 */
export const aeTitleAliasSchema = z
  .object({
    aeTitle: trimmedAeTitleSchema,
    expiresAt: z.iso.datetime({ offset: true }),
  })
  .strict();
export type AeTitleAlias = z.infer<typeof aeTitleAliasSchema>;

export const aeTitleAliasesSchema = z.array(aeTitleAliasSchema).max(AE_TITLE_ALIASES_MAX);

/** The aliases still accepted at `now`: one whose expiry has passed is gone without a new push. */
export function activeAeTitleAliases<A extends { expiresAt: string }>(
  aliases: readonly A[] | undefined,
  now: number = Date.now(),
): A[] {
  return (aliases ?? []).filter((a) => Date.parse(a.expiresAt) > now);
}
