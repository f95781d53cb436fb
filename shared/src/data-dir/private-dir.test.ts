import { describe, expect, it } from 'vitest';
import { exposedDataDirError } from './private-dir.js';

describe('exposedDataDirError', () => {
  it('accepts a directory only its owner can use', () => {
    expect(exposedDataDirError('/var/lib/ferry', 0o40700)).toBeUndefined();
  });

  it.each([0o755, 0o750, 0o701, 0o720, 0o777])(
    'refuses mode %o, naming the directory and the chmod',
    (mode) => {
      const err = exposedDataDirError('/var/lib/ferry-agent', 0o40000 | mode);
      expect(err?.code).toBe('config.data_dir_exposed');
      expect(err?.message).toContain(`mode ${mode.toString(8)}`);
      expect(err?.message).toContain('`chmod 700 /var/lib/ferry-agent`');
    },
  );

  it('quotes a path the shell would split', () => {
    expect(exposedDataDirError("/srv/my data/it's", 0o755)?.message).toContain(
      "`chmod 700 '/srv/my data/it'\\''s'`",
    );
  });
});
