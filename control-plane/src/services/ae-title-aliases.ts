import {
  AE_TITLE_ALIAS_DEFAULT_DAYS,
  AE_TITLE_ALIAS_MAX_DAYS,
  AE_TITLE_ALIASES_MAX,
  type AeTitleAlias,
  activeAeTitleAliases,
  FerryError,
} from '@ferry/shared';
import { and, eq, ne } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { facilities } from '../db/schema/index.js';
import { checkAeTitle } from './input-rules.js';

const DAY_MS = 86_400_000;

/** An alias as the API takes it: the expiry may be left out (AE_TITLE_ALIAS_DEFAULT_DAYS from now). */
export interface AeTitleAliasInput {
  aeTitle: string;
  expiresAt?: string | undefined;
}

/** The default expiry of an alias kept from now. */
export function defaultAliasExpiry(now: number = Date.now()): string {
  return new Date(now + AE_TITLE_ALIAS_DEFAULT_DAYS * DAY_MS).toISOString();
}

/** `input` as stored aliases: valid titles, once each, expiring in the future and within the limit. */
export function checkAeTitleAliases(
  input: readonly AeTitleAliasInput[],
  now: number = Date.now(),
): AeTitleAlias[] {
  if (input.length > AE_TITLE_ALIASES_MAX)
    throw new FerryError('request.invalid', `aeTitleAliases: at most ${AE_TITLE_ALIASES_MAX} aliases`);
  const seen = new Set<string>();
  return input.map((a, i) => {
    const field = `aeTitleAliases.${i}`;
    const aeTitle = checkAeTitle(a.aeTitle, `${field}.aeTitle`);
    if (seen.has(aeTitle))
      throw new FerryError('request.invalid', `${field}.aeTitle: "${aeTitle}" is listed twice`);
    seen.add(aeTitle);
    if (a.expiresAt === undefined) return { aeTitle, expiresAt: defaultAliasExpiry(now) };
    const at = Date.parse(a.expiresAt);
    if (Number.isNaN(at))
      throw new FerryError('request.invalid', `${field}.expiresAt: must be an ISO date and time`);
    if (at <= now) throw new FerryError('request.invalid', `${field}.expiresAt: must be in the future`);
    if (at > now + AE_TITLE_ALIAS_MAX_DAYS * DAY_MS)
      throw new FerryError(
        'request.invalid',
        `${field}.expiresAt: an alias is for a transition and may last at most ${AE_TITLE_ALIAS_MAX_DAYS} days`,
      );
    return { aeTitle, expiresAt: new Date(at).toISOString() };
  });
}

/**
 * Refuses aliases that would make a title ambiguous: one equal to the facility's own title, or to a
 * title or unexpired alias of another facility of the group; and a new own title another facility
 * still answers to as an alias.
 */
export async function checkAliasesFree(
  db: DbOrTx,
  scope: { groupId: string; facilityId: string },
  own: { aeTitle: string; aeTitleChanged: boolean; aliases: readonly AeTitleAlias[] },
): Promise<void> {
  own.aliases.forEach((a, i) => {
    if (a.aeTitle === own.aeTitle)
      throw new FerryError(
        'request.invalid',
        `aeTitleAliases.${i}.aeTitle: "${a.aeTitle}" is the facility's AE title itself, not an alias`,
      );
  });
  const others = await db
    .select({ name: facilities.name, aeTitle: facilities.aeTitle, aeTitleAliases: facilities.aeTitleAliases })
    .from(facilities)
    .where(and(eq(facilities.groupId, scope.groupId), ne(facilities.id, scope.facilityId)));
  for (const other of others) {
    const theirAliases = new Set(activeAeTitleAliases(other.aeTitleAliases).map((a) => a.aeTitle));
    for (const a of own.aliases) {
      if (a.aeTitle === other.aeTitle)
        throw new FerryError(
          'resource.conflict',
          `AE title alias "${a.aeTitle}" is the AE title of facility "${other.name}"`,
        );
      if (theirAliases.has(a.aeTitle))
        throw new FerryError(
          'resource.conflict',
          `AE title alias "${a.aeTitle}" is already an alias of facility "${other.name}"`,
        );
    }
    if (own.aeTitleChanged && theirAliases.has(own.aeTitle))
      throw new FerryError(
        'resource.conflict',
        `AE title "${own.aeTitle}" is still accepted as an alias by facility "${other.name}" until it expires`,
      );
  }
}
