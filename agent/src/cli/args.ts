import { type ParseArgsConfig, parseArgs } from 'node:util';

export type ParsedValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

import { FerryError } from '@ferry/shared';

export function requireString(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new FerryError('config.invalid', `--${name} is required`);
  return v;
}

/**
 * parseArgs refuses `--name -value` as a forgotten argument, but a base64url key thumbprint starts with
 * '-' one time in 64: a declared string option takes the next word unless that word is an option itself.
 */
function attachDashValues(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    if (name && options[name]?.type === 'string' && next && /^-[^-]/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: O,
): { values: ParsedValues } {
  try {
    return parseArgs({
      args: attachDashValues(args, options),
      options,
      allowPositionals: false,
      strict: true,
    });
  } catch (cause) {
    throw new FerryError('config.invalid', (cause as Error).message, { cause });
  }
}
