import { describe, expect, it } from 'vitest';
import { activeAeTitleAliases, aeTitleAliasesSchema } from './ae-title-aliases.js';

describe('AE title aliases', () => {
  it('keeps only the aliases not expired at the given time', () => {
    const aliases = [
      { aeTitle: 'OLD_CT', expiresAt: '2026-12-14T10:00:00Z' },
      { aeTitle: 'OLDER', expiresAt: '2026-12-07T10:00:00Z' },
    ];
    expect(activeAeTitleAliases(aliases, Date.parse('2026-12-07T10:00:00Z'))).toEqual([aliases[0]]);
    expect(activeAeTitleAliases(undefined)).toEqual([]);
  });

  it('trims the title and names a bad one in the AE title words', () => {
    expect(aeTitleAliasesSchema.parse([{ aeTitle: ' OLD ', expiresAt: '2026-12-14T10:00:00Z' }])).toEqual([
      { aeTitle: 'OLD', expiresAt: '2026-12-14T10:00:00Z' },
    ]);
    const bad = aeTitleAliasesSchema.safeParse([{ aeTitle: 'A\\B', expiresAt: 'soon' }]);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['0.aeTitle', '0.expiresAt']);
  });
});
