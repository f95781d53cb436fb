import { activeAeTitleAliases } from '@ferry/shared';
import type { AssociationPolicy } from './policy.js';

/** Associations accepted on one AE title alias since the agent started, and the latest. */
export interface AliasUse {
  aeTitle: string;
  expiresAt: string;
  associations: number;
  lastAt: Date | undefined;
}

/**
 * Counts the associations that called an AE title alias, so the console can show which old title
 * modalities still use. Keyed by title: an alias pushed again keeps its count.
 */
export class AliasUseCounter {
  readonly #seen = new Map<string, { count: number; lastAt: Date }>();

  note(alias: string): void {
    const seen = this.#seen.get(alias);
    if (seen) {
      seen.count += 1;
      seen.lastAt = new Date();
    } else this.#seen.set(alias, { count: 1, lastAt: new Date() });
  }

  /** The unexpired aliases of `policy` with their use (0 for one nobody called). */
  of(policy: AssociationPolicy): AliasUse[] {
    return activeAeTitleAliases(policy.aeTitleAliases).map((a) => {
      const seen = this.#seen.get(a.aeTitle);
      return { ...a, associations: seen?.count ?? 0, lastAt: seen?.lastAt };
    });
  }
}
