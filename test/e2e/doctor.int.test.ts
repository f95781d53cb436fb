// `ferry-agent doctor` across real processes: a running agent enrolled with a real control plane
// passes every check; with the agent stopped the DICOM check fails with its fix, and with the
// control plane down the cloud checks fail with theirs. Exit code 0 only when nothing failed.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgentCli } from '../harness/agent.js';
import { type Cloud, startCloud } from '../harness/cloud.js';

type Doctor = Awaited<ReturnType<typeof runAgentCli>>;

function doctor(dataDir: string, env: Record<string, string> = {}): Promise<Doctor> {
  return runAgentCli(['doctor', '--data-dir', dataDir], { timeoutMs: 60_000, env });
}

/** The line of `check`, and the fix line under it when there is one. */
function lineOf(out: string, check: string): { line: string; fix: string | undefined } {
  const lines = out.split('\n');
  const i = lines.findIndex((l) => new RegExp(`^(PASS|FAIL|WARN) ${check}: `).test(l));
  expect(i, `no ${check} line in:\n${out}`).toBeGreaterThanOrEqual(0);
  const next = lines[i + 1];
  return { line: lines[i]!, fix: next?.startsWith('  fix: ') ? next.slice(7) : undefined };
}

describe('ferry-agent doctor (http control plane)', () => {
  let cloud: Cloud;
  beforeAll(async () => {
    cloud = await startCloud({ name: 'doctor', aeTitle: 'DOCTORGW' });
  });
  afterAll(async () => {
    await cloud?.close();
  });

  it('passes every check against a running agent and exits 0', async () => {
    const r = await doctor(cloud.agentDataDir);
    const out = r.stdout;
    expect(r.code, `${out}\n${r.stderr}`).toBe(0);
    expect(lineOf(out, 'config').line).toMatch(
      /^PASS config: agent\.json is valid \(AE title DOCTORGW, port \d+\)$/,
    );
    expect(lineOf(out, 'enrolled').line).toMatch(
      /^PASS enrolled: gateway [0-9a-f-]{36} of http:\/\/127\.0\.0\.1:\d+$/,
    );
    expect(lineOf(out, 'dns').line).toBe('PASS dns: 127.0.0.1 is an IP address, no lookup needed');
    expect(lineOf(out, 'tls').line).toBe(
      'WARN tls: the control plane URL is http:// so traffic to it is not encrypted',
    );
    expect(lineOf(out, 'clock').line).toMatch(/^PASS clock: within \d+ s of the control plane$/);
    expect(lineOf(out, 'auth').line).toMatch(
      /^PASS auth: signed in as gateway [0-9a-f-]{36} of .* \(AE title DOCTORGW, config version \d+\)$/,
    );
    expect(lineOf(out, 'websocket').line).toMatch(
      /^PASS websocket: channel open at ws:\/\/127\.0\.0\.1:\d+\/api\/v1\/agents\/channel, welcomed/,
    );
    expect(lineOf(out, 'upload').line).toMatch(
      /^PASS upload: 1048576 bytes uploaded and read back intact in \d+ ms/,
    );
    expect(lineOf(out, 'dicom').line).toMatch(
      /^PASS dicom: the listener answers C-ECHO as DOCTORGW on 127\.0\.0\.1:\d+ .*calling FERRY-DOCTOR\)$/,
    );
    expect(lineOf(out, 'disk').line).toMatch(/^PASS disk: [\d.]+ GiB free of [\d.]+ GiB on /);
    expect(out).not.toMatch(/^FAIL /m);
    expect(out.trimEnd().split('\n').at(-1)).toBe('doctor: all checks passed');
  });

  it('fails the DICOM check with its fix when the agent is stopped, and exits 1', async () => {
    await cloud.agent.stop();
    try {
      const r = await doctor(cloud.agentDataDir);
      expect(r.code, r.stdout).toBe(1);
      const dicom = lineOf(r.stdout, 'dicom');
      expect(dicom.line).toMatch(/^FAIL dicom: C-ECHO to DOCTORGW at 127\.0\.0\.1:\d+: connection refused/);
      expect(dicom.fix).toMatch(/^start the agent/);
      // The cloud side is still fine.
      expect(lineOf(r.stdout, 'upload').line).toMatch(/^PASS upload/);
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('doctor: 1 check(s) failed');
    } finally {
      await cloud.restartAgent();
    }
  });

  it('fails the cloud checks with their fixes when the control plane is down', async () => {
    await cloud.stopControlPlane();
    try {
      const r = await doctor(cloud.agentDataDir);
      expect(r.code, r.stdout).toBe(1);
      const clock = lineOf(r.stdout, 'clock');
      expect(clock.line).toMatch(/^FAIL clock: could not ask the control plane for its time/);
      const auth = lineOf(r.stdout, 'auth');
      expect(auth.line).toMatch(
        /^FAIL auth: cannot reach the control plane at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
      );
      expect(auth.fix).toBe('check the server URL and that outbound HTTPS to the control plane is allowed');
      expect(lineOf(r.stdout, 'websocket').line).toBe(
        'WARN websocket: not checked: needs the auth check to pass',
      );
      expect(lineOf(r.stdout, 'upload').line).toBe('WARN upload: not checked: needs the auth check to pass');
      // The agent itself keeps receiving.
      expect(lineOf(r.stdout, 'dicom').line).toMatch(/^PASS dicom/);
    } finally {
      await cloud.startControlPlane();
    }
  });

  it('fails config with a fix when agent.json is missing; status says the directory is not there', async () => {
    const missing = join(cloud.root, 'no-such-dir');
    const r = await doctor(missing);
    expect(r.code).toBe(1);
    const config = lineOf(r.stdout, 'config');
    expect(config.line).toMatch(/^FAIL config: .*agent\.json does not exist$/);
    expect(config.fix).toMatch(/^correct .*agent\.json/);
    // Each error code once per finding.
    expect(lineOf(r.stdout, 'disk').line).toBe(
      `FAIL disk: cannot read ${missing}: ENOENT: no such file or directory, statfs '${missing}'`,
    );

    const status = await runAgentCli(['status', '--data-dir', missing], { timeoutMs: 30_000 });
    expect(status.code).toBe(1);
    expect(status.stdout).toBe('');
    expect(status.stderr).toBe(
      `ferry-agent: config.data_dir_missing: the data directory ${missing} does not exist; pass the agent's --data-dir (the one in its service unit)\n`,
    );
  });
});

describe('ferry-agent doctor (https control plane)', () => {
  let cloud: Cloud;
  beforeAll(async () => {
    cloud = await startCloud({ name: 'doctor-tls', tls: true });
  });
  afterAll(async () => {
    await cloud?.close();
  });

  it('checks the certificate: trusted with the CA, refused without it', async () => {
    const ca = join(cloud.root, 'cp-cert.pem');
    const trusted = await doctor(cloud.agentDataDir, { NODE_EXTRA_CA_CERTS: ca });
    expect(trusted.code, trusted.stdout).toBe(0);
    // The harness certificate lives one day, so the check passes with a renewal warning.
    expect(lineOf(trusted.stdout, 'tls').line).toMatch(
      /^WARN tls: renew soon: certificate 127\.0\.0\.1 from 127\.0\.0\.1, TLSv1\.[23], expires in [01] day\(s\)$/,
    );
    expect(lineOf(trusted.stdout, 'websocket').line).toMatch(/^PASS websocket: channel open at wss:\/\//);

    const untrusted = await doctor(cloud.agentDataDir, { NODE_EXTRA_CA_CERTS: '' });
    expect(untrusted.code).toBe(1);
    const tls = lineOf(untrusted.stdout, 'tls');
    expect(tls.line).toMatch(/^FAIL tls: the certificate is not trusted/);
    expect(tls.fix).toMatch(/install the CA/);
  });
});
