// The uploads travel over HTTPS: the control plane terminates TLS with a certificate the agent trusts
// (NODE_EXTRA_CA_CERTS, as an installer would for a private CA), and delivery is byte-identical.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cloud, startCloud, storedVersions } from '../harness/cloud.js';
import { corpusFiles, smallCorpus } from '../harness/corpus.js';
import { parseStorescuOutput, requireTool, storescu, topLevelStrings } from '../harness/dcmtk.js';
import { datasetHash } from '../harness/part10.js';

describe('upload over HTTPS', () => {
  let cloud: Cloud;

  beforeAll(async () => {
    requireTool('storescu');
    requireTool('openssl');
    cloud = await startCloud({ name: 'https', tls: true });
  }, 120_000);

  afterAll(() => cloud?.close());

  it('enrolls and delivers through the TLS listener, and plain HTTP is not served', async () => {
    expect(cloud.cp.publicUrl).toMatch(/^https:\/\/127\.0\.0\.1:/);
    const files = (await corpusFiles(await smallCorpus())).slice(0, 12);
    const r = await storescu({ port: cloud.agent.port, files, verbose: true, timeoutMs: 60_000 });
    expect(parseStorescuOutput(r.stderr).succeeded).toBe(files.length);

    const first = await topLevelStrings(files[0] as string, ['0020,000d']);
    const study = await cloud.waitForStudy(first['0020,000d'] ?? '', { instances: files.length });
    const dir = join(cloud.root, 'wado');
    await mkdir(dir, { recursive: true });
    for (const file of files) {
      const uids = await topLevelStrings(file, ['0020,000e', '0008,0018']);
      const v = storedVersions(study).find((x) => x.sopInstanceUid === uids['0008,0018']);
      expect(v?.current).toBe(true);
      const got = await cloud.wadoDataset(
        study.studyInstanceUid,
        uids['0020,000e'] ?? '',
        uids['0008,0018'] ?? '',
        dir,
      );
      expect(got.sha256).toBe((await datasetHash(file)).sha256);
    }
    // The agent's uploads went to the https URL it enrolled with.
    const agentJson = JSON.parse(await readFile(join(cloud.agentDataDir, 'agent.json'), 'utf8')) as {
      server: string;
    };
    expect(agentJson.server).toBe(cloud.cp.publicUrl);
    await expect(fetch(`http://127.0.0.1:${cloud.cp.port}/healthz`)).rejects.toThrow();
  }, 180_000);
});
