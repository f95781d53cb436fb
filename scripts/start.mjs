// `npm start`: runs Ferry on embedded defaults with its data in ./.ferry.
// Until the control plane lands (issue 3 onwards) this creates the recipient key pair the control
// plane will own, writes a local agent.json, and runs the agent on 127.0.0.1:4104.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const home = process.env.FERRY_DATA_DIR ?? join(root, '.ferry');
const keysDir = join(home, 'control-plane', 'keys');
const agentDir = join(home, 'agent');
const port = Number(process.env.FERRY_AGENT_PORT ?? 4104);

const run = (args) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited ${code}`)),
    );
  });

if (!existsSync(join(keysDir, 'recipient.public.jwk'))) {
  await run([join(root, 'control-plane/bin/ferry-control-plane.js'), 'keys', 'generate', '--out', keysDir]);
}
if (!existsSync(join(agentDir, 'agent.json'))) {
  const recipientPublicKey = JSON.parse(await readFile(join(keysDir, 'recipient.public.jwk'), 'utf8'));
  await mkdir(agentDir, { recursive: true });
  await writeFile(
    join(agentDir, 'agent.json'),
    `${JSON.stringify({ aeTitle: 'GATEWAY', host: '127.0.0.1', port, recipientPublicKey }, null, 2)}\n`,
  );
}

console.log(`
Ferry is starting (data in ${home}).
  Send DICOM:   TCP_NODELAY=1 storescu -aec GATEWAY 127.0.0.1 ${port} FILE.dcm
  Echo:         TCP_NODELAY=1 echoscu -aec GATEWAY 127.0.0.1 ${port}
  Spool:        npx ferry-agent status --data-dir ${agentDir}
  Recover:      npx ferry-agent export --data-dir ${agentDir} --key ${join(keysDir, 'recipient.private.jwk')} --out ./export
Ctrl-C stops it; the next npm start reuses the same data.
`);
const agent = spawn(
  process.execPath,
  [join(root, 'agent/bin/ferry-agent.js'), 'start', '--data-dir', agentDir],
  {
    stdio: 'inherit',
  },
);
const stop = () => agent.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
agent.once('exit', (code) => process.exit(code ?? 0));
