import { isFerryError } from '@ferry/shared';
import { exportCommand } from './export.js';
import { startCommand } from './start.js';
import { statusCommand } from './status.js';

const USAGE = `usage: ferry-agent <command> [options]
  start  --data-dir DIR [--port N] [--ae-title AET]   run the DICOM gateway
  status --data-dir DIR [--json [--entries]]          show the spool (--entries lists every index entry)
  export --data-dir DIR --key PRIVATE.jwk --out OUT   decrypt the spool into Part-10 files
`;

const commands: Record<string, (args: string[]) => Promise<void>> = {
  start: startCommand,
  status: statusCommand,
  export: exportCommand,
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(USAGE);
    process.exitCode = 2;
    return;
  }
  await command(rest);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const msg = isFerryError(err)
    ? `${err.code}: ${err.message}`
    : `unexpected error: ${(err as Error)?.message ?? String(err)}`;
  process.stderr.write(`ferry-agent: ${msg}\n`);
  process.exitCode = 1;
});
