import { type ParseArgsConfig, parseArgs } from 'node:util';

export type ParsedValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

import { FerryError } from '@ferry/shared';

export function requireString(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new FerryError('config.invalid', `--${name} is required`);
  return v;
}

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: O,
): { values: ParsedValues } {
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true });
  } catch (cause) {
    throw new FerryError('config.invalid', (cause as Error).message, { cause });
  }
}
