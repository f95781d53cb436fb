// The deployment files in infra/, exercised as far as this machine allows: the container file and the
// compose file pass their tools' own validation; the control plane runs as compose would start it
// (its environment, its entrypoint, its volumes) on the real PostgreSQL, radosgw S3 and a TLS
// certificate; the agent's release bundle is built and served by that control plane at /downloads; the
// enrollment token's install line downloads it, checks its SHA-256, unpacks it away from any
// node_modules and runs install.sh, which installs it with its own Node,
// install.sh with its own Node, enrolled against that control plane, started from the installed
// systemd unit's ExecStart, and delivers a real C-STORE; the unit passes systemd-analyze.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  access,
  constants,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../harness/agent.js';
import {
  CONTROL_PLANE_BIN,
  type ControlPlaneProcess,
  freshPostgresDatabase,
  startControlPlane,
} from '../harness/control-plane.js';
import { pydicomSamples, repoRoot } from '../harness/corpus.js';
import { freePort, parseStorescuOutput, requireTool, storescu, topLevelStrings } from '../harness/dcmtk.js';
import { freshS3Bucket } from '../harness/s3.js';
import { selfSignedCert } from '../harness/tls.js';

const run = promisify(execFile);
const INFRA = join(repoRoot, 'infra');
const DOCKERFILE = join(INFRA, 'control-plane', 'Dockerfile');
const COMPOSE = join(INFRA, 'compose.yaml');
const ENV_EXAMPLE = join(INFRA, '.env.example');
const UNIT = 'ferry-agent.service';
/** systemd-analyze's "OK" band ends at 4.9; the unit is held well inside it. */
const MAX_EXPOSURE = 2.5;

interface ComposeService {
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: { published: number; target: number }[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  command?: unknown;
  entrypoint?: unknown;
}

/** `docker-compose config` (the normalised, interpolated file) as JSON, through the PyYAML it ships with. */
async function composeConfig(): Promise<{ services: Record<string, ComposeService> }> {
  const { stdout } = await run('docker-compose', ['-f', COMPOSE, '--env-file', ENV_EXAMPLE, 'config']);
  const child = spawn(
    '/usr/bin/python3',
    ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  child.stdin.end(stdout);
  let json = '';
  child.stdout.on('data', (d: Buffer) => {
    json += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`YAML to JSON failed (${code})`);
  return JSON.parse(json) as { services: Record<string, ComposeService> };
}

/** The runtime stage of the Dockerfile: its ENV, ENTRYPOINT + CMD and HEALTHCHECK command. */
function dockerRuntime(text: string): {
  env: Record<string, string>;
  command: string[];
  healthcheck: string[];
} {
  const stages = text.replace(/\\\n/g, ' ').split(/^FROM /m);
  const last = stages[stages.length - 1] ?? '';
  const env: Record<string, string> = {};
  for (const line of last.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const [, k, v] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[k as string] = v as string;
  }
  const jsonArg = (instr: string): string[] => {
    const m = new RegExp(`^${instr}\\s+(?:--\\S+\\s+)*(?:CMD\\s+)?(\\[.*\\])\\s*$`, 'm').exec(last);
    if (!m) throw new Error(`no exec-form ${instr} in the runtime stage`);
    return JSON.parse(m[1] as string) as string[];
  };
  return { env, command: [...jsonArg('ENTRYPOINT'), ...jsonArg('CMD')], healthcheck: jsonArg('HEALTHCHECK') };
}

/** KEY=VALUE settings of a unit and its drop-ins, in systemd's order: ExecStart and Environment. */
async function unitExec(unitDir: string): Promise<{ argv: string[]; env: Record<string, string> }> {
  const dropInDir = join(unitDir, `${UNIT}.d`);
  const dropIns = (await readdir(dropInDir)).filter((f) => f.endsWith('.conf')).sort();
  const texts = [
    await readFile(join(unitDir, UNIT), 'utf8'),
    ...(await Promise.all(dropIns.map((f) => readFile(join(dropInDir, f), 'utf8')))),
  ];
  let argv: string[] = [];
  const env: Record<string, string> = {};
  for (const line of texts.join('\n').split('\n')) {
    if (line.startsWith('ExecStart=')) argv = line.slice('ExecStart='.length).trim().split(/\s+/);
    const e = /^Environment=(\w+)=(.*)$/.exec(line);
    if (e) env[e[1] as string] = e[2] as string;
  }
  return { argv, env };
}

/** Runs `script` the way a person pastes a line into a shell: bash reading it from standard input. */
function shell(
  script: string,
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/bash', [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(script);
  });
}

async function mode(path: string): Promise<string> {
  return ((await stat(path)).mode & 0o777).toString(8);
}

async function systemdAnalyze(args: string[], unitPath: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run('systemd-analyze', args, {
      env: { ...process.env, SYSTEMD_UNIT_PATH: `${unitPath}:` },
      maxBuffer: 8 << 20,
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('infra: bundle, install, unit, container and compose files', () => {
  let tmp: string;
  let release: string;
  let tarball: string;
  let stamp: Record<string, string>;
  let compose: { services: Record<string, ComposeService> };
  let docker: ReturnType<typeof dockerRuntime>;
  let cpEnv: Record<string, string>;
  let cp: ControlPlaneProcess;
  let session: string;
  let certFile: string;
  let dicomPort: number;
  let agent: ChildProcess | undefined;
  let s3: Awaited<ReturnType<typeof freshS3Bucket>>;
  let agentOut = '';
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    requireTool('storescu');
    requireTool('openssl');
    // Away from the checkout: nothing above the unpacked release holds a node_modules.
    tmp = await mkdtemp(join(tmpdir(), 'ferry-infra-'));

    // The release as `npm run bundle:agent` makes it, then unpacked from its tarball.
    const started = Date.now();
    await run(process.execPath, [
      join(repoRoot, 'agent', 'scripts', 'bundle.mjs'),
      '--out',
      join(tmp, 'build'),
    ]);
    tarball = join(tmp, 'build', 'ferry-agent-linux-x64.tar.gz');
    expect(await readFile(`${tarball}.sha256`, 'utf8')).toBe(
      `${createHash('sha256')
        .update(await readFile(tarball))
        .digest('hex')}  ferry-agent-linux-x64.tar.gz\n`,
    );
    release = join(tmp, 'unpacked');
    await mkdir(release);
    await run('tar', ['-C', release, '-xzf', tarball, '--strip-components=1']);
    process.stdout.write(`infra: bundle + tarball + unpack in ${Date.now() - started} ms\n`);
    stamp = Object.fromEntries(
      (await readFile(join(release, 'VERSION'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => l.split('=', 2) as [string, string]),
    );

    // The control plane with compose's environment, its volumes mapped into tmp.
    compose = await composeConfig();
    docker = dockerRuntime(await readFile(DOCKERFILE, 'utf8'));
    const service = compose.services['control-plane'];
    if (!service?.environment) throw new Error('compose has no control-plane environment');
    // docker-compose v1 prints volumes short-form: SOURCE:TARGET[:MODE]; a bind mount's source is a path.
    const mounts = (service.volumes ?? []).map((v) => {
      const [source = '', target = ''] = v.split(':');
      return {
        target,
        local: join(tmp, 'volumes', source.startsWith('/') ? relative(INFRA, source) : source),
      };
    });
    const local = (path: string): string => {
      const m = mounts.find((x) => path === x.target || path.startsWith(`${x.target}/`));
      if (!m) throw new Error(`${path} is on no volume of the control-plane service: it would not survive`);
      return join(m.local, path.slice(m.target.length));
    };
    // As the image makes /var/lib/ferry: the control plane refuses a data directory others can read.
    for (const m of mounts) await mkdir(m.local, { recursive: true, mode: 0o700 });
    const composeEnv = { ...docker.env, ...service.environment };
    const db = await freshPostgresDatabase('ferry_infra');
    cleanups.push(db.drop);
    const bucket = await freshS3Bucket();
    s3 = bucket;
    cleanups.push(bucket.drop);
    certFile = local(composeEnv.FERRY_TLS_CERT ?? '');
    await selfSignedCert({ cert: certFile, key: local(composeEnv.FERRY_TLS_KEY ?? '') });
    const port = await freePort();
    cpEnv = {
      ...composeEnv,
      // The machine's services stand in for compose's postgres and minio.
      FERRY_DATABASE_URL: db.url,
      ...bucket.env,
      FERRY_TLS_CERT: certFile,
      FERRY_TLS_KEY: local(composeEnv.FERRY_TLS_KEY ?? ''),
      FERRY_DATA_DIR: local(composeEnv.FERRY_DATA_DIR ?? ''),
      FERRY_KEY_FILE: local(composeEnv.FERRY_KEY_FILE ?? ''),
      FERRY_HTTP_HOST: '127.0.0.1',
      FERRY_HTTP_PORT: String(port),
      FERRY_PUBLIC_URL: `https://127.0.0.1:${port}`,
      // The image's release (FERRY_AGENT_RELEASE in the Dockerfile) is the one built above.
      FERRY_AGENT_RELEASE: tarball,
    };
    cp = await startControlPlane({
      port,
      dataDir: cpEnv.FERRY_DATA_DIR as string,
      adminEmail: cpEnv.FERRY_ADMIN_EMAIL as string,
      adminPassword: cpEnv.FERRY_ADMIN_PASSWORD as string,
      env: cpEnv,
    });
    cleanups.push(() => cp.stop());
    session = await cp.login(cpEnv.FERRY_ADMIN_EMAIL as string, cpEnv.FERRY_ADMIN_PASSWORD as string);
  }, 120_000);

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((resolve) => agent?.once('exit', resolve));
    }
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('the container file passes dockerfile-utils lint with no diagnostics', async () => {
    const r = await run(join(repoRoot, 'node_modules', '.bin', 'dockerfile-utils'), [
      'lint',
      DOCKERFILE,
    ]).catch((err: { code?: number; stdout?: string }) => ({
      stdout: `exit ${err.code}: ${err.stdout}`,
      stderr: '',
    }));
    expect(r.stdout.trim()).toBe('');
    expect(docker.healthcheck.join(' ')).toContain('healthcheck');
  });

  it('the compose file passes docker-compose config, and wires the control plane to its backends', async () => {
    await run('docker-compose', ['-f', COMPOSE, '--env-file', ENV_EXAMPLE, 'config', '-q']);
    const s = compose.services;
    expect(Object.keys(s).sort()).toEqual(['control-plane', 'minio', 'minio-setup', 'postgres']);
    const control = s['control-plane'] as ComposeService;
    expect(control.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      'minio-setup': { condition: 'service_completed_successfully' },
    });
    expect(s.postgres?.healthcheck?.test.join(' ')).toContain('pg_isready');
    const env = control.environment ?? {};
    expect(env.FERRY_DATABASE_URL).toMatch(/^postgres:\/\/ferry:[^@]+@postgres:5432\/ferry$/);
    expect(env.FERRY_PUBLIC_URL).toMatch(/^https:\/\//);
    expect(env.FERRY_S3_ENDPOINT).toMatch(/^https:\/\//);
    expect(control.ports).toEqual([{ published: 443, target: Number(env.FERRY_HTTP_PORT) }]);
    // A compose command would bypass the Dockerfile's, which is what this test runs.
    expect(control.command).toBeUndefined();
    expect(control.entrypoint).toBeUndefined();
    // A missing secret stops compose, rather than starting PostgreSQL with an empty password.
    const bare = join(tmp, 'bare.env');
    await writeFile(bare, '');
    await expect(run('docker-compose', ['-f', COMPOSE, '--env-file', bare, 'config', '-q'])).rejects.toThrow(
      /POSTGRES_PASSWORD/,
    );
  });

  it('the control plane, started as the image would be, serves HTTPS on PostgreSQL, with a working HEALTHCHECK', async () => {
    // The image's command is the one the harness runs: node control-plane/bin/ferry-control-plane.js serve.
    expect(docker.command).toEqual(['node', relative(repoRoot, CONTROL_PLANE_BIN), 'serve']);
    expect(cp.publicUrl).toBe(cpEnv.FERRY_PUBLIC_URL);
    const health = await cp.fetch(`${cp.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await cp.fetch(`${cp.url}/readyz`);
    expect(await ready.json()).toEqual({ ok: true });
    await expect(fetch(`http://127.0.0.1:${cp.port}/healthz`)).rejects.toThrow();
    // The key file is where compose's volume keeps it.
    expect(await mode(cpEnv.FERRY_KEY_FILE as string)).toBe('600');

    const healthcheck = (env: Record<string, string>) =>
      new Promise<number | null>((resolve) => {
        const [cmd, ...args] = docker.healthcheck;
        const child = spawn(cmd === 'node' ? process.execPath : (cmd as string), args, {
          cwd: repoRoot,
          env: { PATH: process.env.PATH, ...env },
          stdio: 'ignore',
        });
        child.once('exit', resolve);
      });
    expect(await healthcheck(cpEnv)).toBe(0);
    expect(await healthcheck({ ...cpEnv, FERRY_HTTP_PORT: String(await freePort()) })).toBe(1);
  });

  it('the bundled agent reports its version stamp with its own Node', async () => {
    const { stdout } = await run(join(release, 'node'), [join(release, 'ferry-agent.mjs'), '--version'], {
      cwd: release,
      env: { PATH: '/usr/bin:/bin' },
    });
    const { stdout: head } = await run('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: repoRoot });
    expect(stamp.commit?.startsWith(head.trim())).toBe(true);
    expect(stdout.trim()).toBe(
      `ferry-agent ${stamp.version} (commit ${stamp.commit} built ${stamp.built}; node ${stamp.node})`,
    );
    // Nothing outside the release directory: no node_modules on the way up.
    for (let dir = release; dir !== '/'; dir = join(dir, '..'))
      await expect(access(join(dir, 'node_modules'), constants.F_OK)).rejects.toThrow();
  });

  it('the image serves the release it builds, as npm run bundle:agent writes it', async () => {
    const dockerfile = await readFile(DOCKERFILE, 'utf8');
    expect(dockerfile).toMatch(/^FROM node:24-bookworm-slim AS build$/m);
    expect(dockerfile).toMatch(/^RUN npm run bundle:agent$/m);
    expect(docker.env.FERRY_AGENT_RELEASE).toBe('/app/agent/release/ferry-agent-linux-x64.tar.gz');
    expect(dockerfile).toContain('/src/agent/release/ferry-agent-linux-x64.tar.gz ');
    expect(stamp.node?.startsWith('v24.')).toBe(true);
    const res = await cp.fetch(`${cp.url}/downloads/ferry-agent-linux-x64.tar.gz.sha256`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(await readFile(`${tarball}.sha256`, 'utf8'));
  });

  it('install.sh installs the release, enrolls it with the token, and writes the unit with its drop-ins', async () => {
    dicomPort = await freePort();
    const api = (method: string, path: string, body?: unknown) =>
      cp.api<Record<string, unknown>>(method, path, { token: session, ...(body ? { body } : {}) });
    const fac = await api('POST', '/api/v1/facilities', {
      name: 'Infra Radiology',
      aeTitle: 'GATEWAY',
      stablePeriodSeconds: 1,
      gateway: { port: dicomPort },
    });
    expect(fac.status).toBe(201);
    const tok = await api('POST', `/api/v1/facilities/${fac.body.id as string}/enrollment-tokens`, {});
    expect(tok.status).toBe(201);

    const root = join(tmp, 'root');
    const prefix = join(root, 'opt', 'ferry-agent');
    const dataDir = join(root, 'var', 'lib', 'ferry-agent');
    const systemdDir = join(root, 'etc', 'systemd', 'system');
    const installEnv = {
      PATH: process.env.PATH,
      FERRY_PREFIX: prefix,
      FERRY_SYSTEMD_DIR: systemdDir,
      FERRY_SKIP_USER: '1',
      FERRY_SKIP_SYSTEMCTL: '1',
    };
    // The line the console and the API give with the token, run as given by a shell (plus test-only
    // paths at its end): it downloads the release from the control plane over TLS, checks it, unpacks
    // it and runs install.sh. Test-only: a sudo that logs its argv and runs the command as this user
    // (FERRY_SKIP_USER), curl trusting the test CA, mktemp under tmp.
    const token = tok.body.token as string;
    const line = tok.body.installCommand as string;
    expect(line).toContain(
      `curl -fsSLo ferry-agent-linux-x64.tar.gz ${cp.publicUrl}/downloads/ferry-agent-linux-x64.tar.gz`,
    );
    expect(line).toContain(
      `printf %s ${token} | sudo ./install.sh --server ${cp.publicUrl} --token-file - --key-thumbprint ${tok.body.keyThumbprint as string}`,
    );
    const shims = join(tmp, 'shims');
    const sudoLog = join(tmp, 'sudo-argv.log');
    await mkdir(shims);
    await mkdir(join(tmp, 'mktemp'));
    await writeFile(join(shims, 'sudo'), '#!/bin/sh\nprintf "%s\\n" "$*" >>"$SUDO_ARGV_LOG"\nexec "$@"\n', {
      mode: 0o755,
    });
    const lineEnv = {
      ...installEnv,
      PATH: `${shims}:${process.env.PATH}`,
      CURL_CA_BUNDLE: certFile,
      TMPDIR: join(tmp, 'mktemp'),
      SUDO_ARGV_LOG: sudoLog,
    };
    const asTyped = `${line} --data-dir ${dataDir} --privileged-port --ca-file ${certFile}\n`;

    // A release that is not the one the line was written for stops the line before install.sh runs.
    await rename(tarball, `${tarball}.good`);
    await writeFile(tarball, Buffer.concat([await readFile(`${tarball}.good`), Buffer.from('swapped')]));
    const swapped = await shell(asTyped, lineEnv);
    await rename(`${tarball}.good`, tarball);
    expect(swapped.code).not.toBe(0);
    expect(swapped.stdout + swapped.stderr).toContain('ferry-agent-linux-x64.tar.gz: FAILED');
    await expect(access(sudoLog)).rejects.toThrow();
    await expect(access(dataDir)).rejects.toThrow();

    const r = await shell(asTyped, lineEnv);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('ferry-agent-linux-x64.tar.gz: OK');
    expect(r.stdout).toMatch(
      /enrolled as gateway [0-9a-f-]+ \("Infra Radiology [^"]+"\) for facility "Infra Radiology"/,
    );
    // The token went through printf (a shell builtin) and stdin: no argv of sudo, install.sh or enroll.
    const sudoArgv = await readFile(sudoLog, 'utf8');
    expect(sudoArgv).toMatch(/^\.\/install\.sh --server \S+ --token-file - --key-thumbprint \S+ /);
    expect(sudoArgv).not.toContain(token);
    const dry = await shell(
      `printf %s ${token} | ${join(release, 'install.sh')} --server ${cp.publicUrl} --token-file - --key-thumbprint ${tok.body.keyThumbprint as string} --data-dir ${join(tmp, 'dry')} --dry-run\n`,
      installEnv,
    );
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /would run: \S+\/node \S+\/ferry-agent\.mjs enroll --server \S+ --token-file - --key-thumbprint /,
    );
    expect(dry.stdout + dry.stderr).not.toContain(token);

    expect(await mode(join(prefix, 'node'))).toBe('755');
    expect(await mode(join(prefix, 'ferry-agent.mjs'))).toBe('644');
    // The command the README shows: the installed bundle on its own Node.
    const installed = await run(join(prefix, 'bin', 'ferry-agent'), ['--version'], {
      env: { PATH: '/usr/bin:/bin' },
    });
    expect(installed.stdout).toContain(`ferry-agent ${stamp.version} `);
    expect(installed.stdout).toContain(`node ${stamp.node}`);
    expect(await mode(dataDir)).toBe('700');
    const agentJson = JSON.parse(await readFile(join(dataDir, 'agent.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(agentJson.server).toBe(cp.publicUrl);
    expect(agentJson.port).toBe(dicomPort);
    const gateways = await api('GET', '/api/v1/gateways');
    const listed = (gateways.body.gateways as { id: string; version: string }[]).find(
      (g) => g.id === agentJson.gatewayId,
    );
    expect(listed?.version).toBe(stamp.version);

    const unit = await readFile(join(systemdDir, UNIT), 'utf8');
    expect(unit).toContain(`ExecStart=${prefix}/node ${prefix}/ferry-agent.mjs run --data-dir ${dataDir}`);
    expect(unit).toContain(`ReadWritePaths=${dataDir}\n`);
    expect((await readdir(join(systemdDir, `${UNIT}.d`))).sort()).toEqual(['ca.conf', 'port-104.conf']);

    // An upgrade: the same script without a token keeps the gateway, its key and its drop-ins.
    const keyFile = join(dataDir, 'identity', 'agent.private.jwk');
    const key = await readFile(keyFile, 'utf8');
    const again = await run(join(release, 'install.sh'), ['--data-dir', dataDir], { env: installEnv });
    expect(again.stdout).toContain(`keeping the enrolled gateway in ${dataDir}`);
    expect(await readFile(keyFile, 'utf8')).toBe(key);
    expect(JSON.parse(await readFile(join(dataDir, 'agent.json'), 'utf8'))).toEqual(agentJson);
    expect((await readdir(join(systemdDir, `${UNIT}.d`))).sort()).toEqual(['ca.conf', 'port-104.conf']);
  });

  it('the unit passes systemd-analyze verify, scores OK on security, and port-104.conf adds only CAP_NET_BIND_SERVICE', async () => {
    const systemdDir = join(tmp, 'root', 'etc', 'systemd', 'system');
    const verify = await systemdAnalyze(['verify', UNIT], systemdDir);
    expect(verify.out).toBe('');
    expect(verify.code).toBe(0);

    // The committed unit, alone and with the port-104 drop-in.
    const plain = join(tmp, 'unit-plain');
    const withPort = join(tmp, 'unit-port');
    await mkdir(join(plain, `${UNIT}.d`), { recursive: true });
    await mkdir(join(withPort, `${UNIT}.d`), { recursive: true });
    const committed = await readFile(join(INFRA, 'systemd', UNIT), 'utf8');
    const dropIn = await readFile(join(INFRA, 'systemd', `${UNIT}.d`, 'port-104.conf'), 'utf8');
    await writeFile(join(plain, UNIT), committed);
    await writeFile(join(withPort, UNIT), committed);
    await writeFile(join(withPort, `${UNIT}.d`, 'port-104.conf'), dropIn);
    const score = async (dir: string) => {
      const r = await systemdAnalyze(['security', '--offline=true', UNIT], dir);
      const m = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(r.out);
      if (!m) throw new Error(`no exposure level in:\n${r.out}`);
      return { value: Number(m[1]), band: m[2] };
    };
    const base = await score(plain);
    expect(base.value).toBeLessThanOrEqual(MAX_EXPOSURE);
    expect(base.band).toBe('OK');
    expect((await score(withPort)).value).toBeLessThanOrEqual(MAX_EXPOSURE);

    const checks = async (dir: string) => {
      const r = await systemdAnalyze(['security', '--offline=true', '--json=short', UNIT], dir);
      const list = JSON.parse(r.out) as { json_field: string; set: boolean }[];
      return new Map(list.map((c) => [c.json_field, c.set]));
    };
    const before = await checks(plain);
    const after = await checks(withPort);
    const changed = [...before.keys()].filter((k) => before.get(k) !== after.get(k)).sort();
    expect(changed).toEqual([
      'AmbientCapabilities',
      'CapabilityBoundingSet_CAP_NET_BIND_SERVICE_BROADCAST_RAW)',
    ]);
    const caps = dropIn
      .split('\n')
      .filter((l) => /^(AmbientCapabilities|CapabilityBoundingSet)=/.test(l))
      .map((l) => l.split('=')[1]);
    expect(caps).toEqual(['CAP_NET_BIND_SERVICE', 'CAP_NET_BIND_SERVICE']);
    // Every check the base unit passes except the two capabilities still passes with the drop-in.
    expect([...before].filter(([k, v]) => v && !after.get(k))).toHaveLength(2);

    // verify really checks ExecStart: a missing program fails it.
    const broken = join(tmp, 'unit-broken');
    await mkdir(broken);
    await writeFile(
      join(broken, UNIT),
      committed.replace(/^ExecStart=\S+/m, `ExecStart=${tmp}/no-such-node`),
    );
    expect((await systemdAnalyze(['verify', UNIT], broken)).code).not.toBe(0);
  });

  it("the installed unit's ExecStart runs the bundled agent, which accepts a C-STORE and delivers it to S3", async () => {
    const systemdDir = join(tmp, 'root', 'etc', 'systemd', 'system');
    const { argv, env } = await unitExec(systemdDir);
    expect(argv[0]).toBe(join(tmp, 'root', 'opt', 'ferry-agent', 'node'));
    expect(env.NODE_EXTRA_CA_CERTS).toBe(join(tmp, 'root', 'opt', 'ferry-agent', 'ca.pem'));
    // systemd's environment is small: the unit's own plus PATH.
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: '/',
      env: { PATH: '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent = child;
    const collect = (d: Buffer) => {
      agentOut += d.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const deadline = Date.now() + 20_000;
    let readyLine: Record<string, unknown> | undefined;
    while (!readyLine) {
      const line = agentOut.split('\n').find((l) => l.includes('"event":"agent.ready"'));
      if (line) readyLine = JSON.parse(line) as Record<string, unknown>;
      else if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`agent never became ready:\n${agentOut}`);
      else await sleep(100);
    }
    expect(readyLine).toMatchObject({
      port: dicomPort,
      uploads: 'on',
      channel: 'on',
      version: stamp.version,
      commit: stamp.commit,
      builtAt: stamp.built,
    });

    const sample = pydicomSamples().find((s) => s.options.length === 0 && s.file.endsWith('CT_small.dcm'));
    if (!sample) throw new Error('the pydicom sample CT_small.dcm is missing');
    const sent = await storescu({ port: dicomPort, files: [sample.file], verbose: true, timeoutMs: 30_000 });
    expect(parseStorescuOutput(sent.stderr).succeeded).toBe(1);
    const uids = await topLevelStrings(sample.file, ['0020,000d', '0008,0018']);
    const studyUid = uids['0020,000d'] ?? '';

    let study: { status: string; instanceCount: number } | undefined;
    const until = Date.now() + 60_000;
    while (study?.status !== 'complete') {
      if (Date.now() > until) throw new Error(`study not delivered: ${JSON.stringify(study)}\n${agentOut}`);
      await sleep(250);
      const r = await cp.api<{ status: string; instanceCount: number }>(
        'GET',
        `/api/v1/studies/${encodeURIComponent(studyUid)}`,
        { token: session },
      );
      study = r.status === 200 ? r.body : undefined;
    }
    expect(study.instanceCount).toBe(1);

    // It is on the backends compose names: the blob in the bucket, the row in PostgreSQL.
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    expect(listed.KeyCount ?? 0).toBeGreaterThan(0);
    const client = new pg.Client({ connectionString: cpEnv.FERRY_DATABASE_URL });
    await client.connect();
    try {
      const rows = await client.query<{ n: number }>(
        'select count(*)::int as n from instances where sop_instance_uid = $1',
        [uids['0008,0018']],
      );
      expect(rows.rows[0]?.n).toBe(1);
    } finally {
      await client.end();
    }
  });
});
