import { isFerryError, PRIVATE_UMASK } from '@ferry/shared';
import { versionLine } from '../version.js';
import { doctorCommand } from './doctor.js';
import { enrollCommand } from './enroll.js';
import { exportCommand } from './export.js';
import { hashPasswordCommand } from './hash-password.js';
import { rotateKeyCommand } from './rotate-key.js';
import { runCommand } from './run.js';
import { startCommand } from './start.js';
import { statusCommand } from './status.js';

const USAGE = `usage: ferry-agent <command> [options]
  start  --data-dir DIR [--port N] [--ae-title AET]   run the DICOM gateway
  run    --data-dir DIR [start options]               run it under the supervisor that installs upgrades
                                                      and rolls back a release that fails its trial
  status --data-dir DIR [--json [--entries]]          show the spool: states, bytes pending upload, oldest unsent
                                                      (--entries lists every index entry)
  export --data-dir DIR --key PRIVATE.jwk --out OUT   decrypt the spool into Part-10 files
  enroll --server URL --token-file FILE|- --key-thumbprint T --data-dir DIR
                                                      register with the control plane and write agent.json:
                                                      the token from FILE or standard input (-), never argv;
                                                      refused unless the control plane's key has thumbprint T;
                                                      [--name NAME] how the console shows it (default: the
                                                      facility's name and this host's name)
  rotate-key --data-dir DIR                           replace this gateway's key pair
  hash-password                                       read a DICOM user's password on standard input and
                                                      print its hash for the userIdentity setting
  doctor --data-dir DIR                               check DNS, TLS, clock, auth, websocket, upload, DICOM
                                                      listener and disk; exits 1 when any check fails
  version (or --version)                              print the version, build commit and date, Node version
`;

const commands: Record<string, (args: string[]) => Promise<void>> = {
  start: startCommand,
  run: runCommand,
  status: statusCommand,
  export: exportCommand,
  enroll: enrollCommand,
  'rotate-key': rotateKeyCommand,
  'hash-password': hashPasswordCommand,
  doctor: doctorCommand,
  version: async () => {
    process.stdout.write(`${versionLine()}\n`);
  },
  '--version': async () => {
    process.stdout.write(`${versionLine()}\n`);
  },
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

// Before anything is written: the spool, the key and agent.json are the service user's alone.
process.umask(PRIVATE_UMASK);
main(process.argv.slice(2)).catch((err: unknown) => {
  const msg = isFerryError(err)
    ? `${err.code}: ${err.message}`
    : `unexpected error: ${(err as Error)?.message ?? String(err)}`;
  process.stderr.write(`ferry-agent: ${msg}\n`);
  process.exitCode = 1;
});
