import { AE_TITLE_ALIAS_DEFAULT_DAYS, type AeTitleAlias, activeAeTitleAliases } from '@ferry/shared';
import type { AeTitleAliasInput } from '../../../services/ae-title-aliases.js';
import { When } from '../../facility-fields.js';

/** The facility's AE title as saved and the aliases it still answers to: what a new title would break. */
export interface AeTitleNow {
  aeTitle: string;
  aliases: readonly AeTitleAlias[];
}

/**
 * The warning beside the AE title of an existing facility, and the offer to keep the old title as an
 * alias: modalities are reconfigured one by one, and a title that stops answering at once fails them all.
 */
export function AeTitleChange({ now, keep }: { now: AeTitleNow; keep: boolean }) {
  const aliases = activeAeTitleAliases(now.aliases);
  return (
    <fieldset class="ae-title-change" aria-describedby="ae-title-change-warning">
      <legend>If you change the AE title</legend>
      <p id="ae-title-change-warning">
        Modalities still configured to send to <code>{now.aeTitle}</code> are refused as soon as a new AE
        title is saved, unless the old title stays accepted while they are reconfigured.
      </p>
      <label class="check">
        <input type="checkbox" name="keepOldAeTitle" value="on" checked={keep} /> Keep accepting{' '}
        <code>{now.aeTitle}</code> as an alias for {AE_TITLE_ALIAS_DEFAULT_DAYS} days
      </label>
      {aliases.length > 0 ? (
        <ul id="ae-title-aliases" aria-label="AE title aliases still accepted">
          {aliases.map((a) => (
            <li>
              <code>{a.aeTitle}</code> accepted until <When at={new Date(a.expiresAt)} />
            </li>
          ))}
        </ul>
      ) : null}
      {aliases.length > 0 ? (
        <p class="hint">Each gateway's page counts the associations still calling an alias.</p>
      ) : null}
    </fieldset>
  );
}

/**
 * The aliases to save with the title typed: the unexpired ones plus the old title when the admin keeps
 * it; undefined (the service keeps the unexpired ones) when the title is unchanged or not kept.
 */
export function aliasesOnSave(
  now: AeTitleNow,
  typedTitle: string,
  keep: boolean,
): AeTitleAliasInput[] | undefined {
  const typed = typedTitle.trim();
  if (!keep || typed === now.aeTitle) return undefined;
  const others = activeAeTitleAliases(now.aliases).filter(
    (a) => a.aeTitle !== now.aeTitle && a.aeTitle !== typed,
  );
  return [...others, { aeTitle: now.aeTitle }];
}
