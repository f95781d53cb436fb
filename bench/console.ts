// `npm run bench:console`: the web console's pages on a real `ferry-control-plane serve` process over
// PostgreSQL holding 10,000 studies (one series and two instance rows each, a timeline), one study of
// 2,000 instances in four series (its page shows one page of each series' instances) and 500 gateways
// (status, health with conditions, events) in 20 facilities, plus 5,000 audit entries. The rows are
// written straight into the database (a few INSERT ... SELECT generate_series statements):
// what is measured is reading them. Signs in through POST /login like a browser, then fetches each
// list page, two studies (the large one also at a later page of one series) and one gateway page 30
// times in a row.
//
// Two numbers per page: `server` is the console's own `server-timing: app;dur=` header (from the
// console middleware to the rendered response: queries and rendering, no network), the figure the
// 200 ms target is about (judged on the median of 30; the p99 is printed too); `client` is the full request on loopback from this process. There is no
// outside peer for this web console, so the comparison is with the target.
//
// Writes bench/results/console-latest.json. Knobs: FERRY_BENCH_STUDIES (10000), FERRY_BENCH_GATEWAYS
// (500), FERRY_BENCH_ROUNDS (30), FERRY_BENCH_LOG_LEVEL (info), FERRY_BENCH_NO_BUILD=1.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  json,
  PG_URL,
  percentile,
  postgresReachable,
  root,
  round,
  type Server,
  signIn,
  startServer,
  withAdmin,
} from './lib/control-plane-process.js';

const STUDIES = Number(process.env.FERRY_BENCH_STUDIES ?? 10_000);
const GATEWAYS = Number(process.env.FERRY_BENCH_GATEWAYS ?? 500);
const FACILITIES = 20;
const AUDIT_ROWS = 5000;
const ROUNDS = Number(process.env.FERRY_BENCH_ROUNDS ?? 30);
const LOG_LEVEL = process.env.FERRY_BENCH_LOG_LEVEL ?? 'info';
const TARGET_MS = 200;
const LARGE_STUDY_UID = '1.2.826.0.1.3680043.10.2.1';
const LARGE_STUDY_INSTANCES = 2000;

interface PageResult {
  path: string;
  status: number;
  bytes: number;
  serverP50Ms: number;
  serverP99Ms: number;
  clientP50Ms: number;
  clientP99Ms: number;
  withinTarget: boolean;
}

const HEALTH = {
  agentVersion: '1.0.0',
  uptimeSeconds: 86_400,
  configVersion: 1,
  spool: {
    pendingCount: 12,
    pendingBytes: 12 * 520_000,
    pendingStudies: 1,
    oldestUnsentAt: new Date(Date.now() - 90_000).toISOString(),
    quarantined: 0,
  },
  upload: { bytesPerSecond: 2_500_000, objectsDelivered: 4200, errors: 0, lastError: null },
  dicom: {
    listening: true,
    aeTitle: 'BENCH',
    port: 4104,
    activeAssociations: 0,
    associations: 310,
    lastStoreByCallingAe: [{ callingAe: 'CT01', at: new Date().toISOString() }],
    tlsCertExpiresAt: null,
  },
  disk: { freeBytes: 40e9, totalBytes: 100e9 },
  clockOffsetMs: 3,
  conditions: [
    {
      code: 'spool.backlog',
      severity: 'warning',
      message: '12 objects waiting',
      since: new Date(Date.now() - 60_000).toISOString(),
    },
  ],
};

/** Facilities through the API (their config versions and AE title rules stay the product's own). */
async function createFacilities(server: Server, session: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 1; i <= FACILITIES; i++) {
    const res = await fetch(`${server.url}/api/v1/facilities`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `Site ${String(i).padStart(2, '0')}`, aeTitle: `SITE${i}` }),
    });
    ids.push((await json<{ id: string }>(res, 'create facility', 201)).id);
  }
  return ids;
}

/** The bulk rows, straight into the database. */
async function seed(databaseUrl: string, groupId: string, facilityIds: string[]): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const t0 = performance.now();
  try {
    await client.query('begin');
    await client.query(
      `insert into gateways (group_id, facility_id, public_key, hostname, version, enrolled_at, last_seen_at)
       select $1, ($2::uuid[])[1 + (i % $3)], $4::jsonb, 'gw-' || lpad(i::text, 4, '0'), '1.0.' || (i % 3),
              now() - interval '30 days', now() - (i % 60) * interval '1 second'
       from generate_series(1, $5) i`,
      [
        groupId,
        facilityIds,
        facilityIds.length,
        JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: randomBytes(32).toString('base64url') }),
        GATEWAYS,
      ],
    );
    await client.query(
      `insert into gateway_status (gateway_id, status, status_since, last_heartbeat_at, heartbeat_seconds,
                                   health, applied_config_version)
       select id, (array['online','online','online','degraded','offline'])[1 + (row_number() over () % 5)::int],
              now() - interval '2 hours', now() - interval '5 seconds', 10, $2::jsonb, 1
       from gateways where group_id = $1`,
      [groupId, JSON.stringify(HEALTH)],
    );
    await client.query(
      `insert into gateway_events (group_id, gateway_id, at, type, details)
       select $1, g.id, now() - k * interval '1 hour', 'status',
              jsonb_build_object('from', 'online', 'to', 'degraded', 'conditions', jsonb_build_array())
       from gateways g cross join generate_series(1, 10) k where g.group_id = $1`,
      [groupId],
    );
    await client.query(
      `insert into studies (group_id, facility_id, study_instance_uid, patient_name, patient_id, patient_sex,
                            patient_name_search, patient_id_search, study_date, study_time, description,
                            accession_number, modalities, series_count, instance_count, status, updated,
                            first_received_at, last_received_at, first_stored_at, last_stored_at, completed_at)
       select $1, ($2::uuid[])[1 + (i % $3)], '1.2.826.0.1.3680043.10.1.' || i,
              'PATIENT' || lpad((i % 5000)::text, 4, '0') || '^BENCH', 'PID' || lpad(i::text, 6, '0'), 'O',
              'patient' || lpad((i % 5000)::text, 4, '0') || '^bench', 'pid' || lpad(i::text, 6, '0'),
              to_char(date '2026-01-01' + (i % 300), 'YYYYMMDD'), '101500', 'Bench study ' || i,
              'ACC' || i, array[(array['CT','MR','CR','US'])[1 + (i % 4)]], 1, 2,
              case when i % 50 = 0 then 'receiving' else 'complete' end, i % 97 = 0,
              now() - i * interval '1 minute', now() - i * interval '1 minute',
              now() - i * interval '1 minute' + interval '2 seconds',
              now() - i * interval '1 minute' + interval '3 seconds',
              case when i % 50 = 0 then null else now() - i * interval '1 minute' + interval '63 seconds' end
       from generate_series(1, $4) i`,
      [groupId, facilityIds, facilityIds.length, STUDIES],
    );
    await client.query(
      `insert into series (group_id, study_id, series_instance_uid, modality, series_number, description,
                           instance_count)
       select group_id, id, study_instance_uid || '.1', modalities[1], '1', 'Bench series', 2
       from studies where group_id = $1`,
      [groupId],
    );
    await client.query(
      `insert into instances (group_id, facility_id, gateway_id, study_id, series_id, sop_instance_uid,
                              sop_class_uid, instance_number, version, current, object_id, blob_key, sha256,
                              object_sha256, plain_bytes, object_bytes, transfer_syntax_uid, calling_ae_title,
                              received_at, stored_at, metadata)
       select s.group_id, st.facility_id, null, st.id, s.id, s.series_instance_uid || '.' || k,
              '1.2.840.10008.5.1.4.1.1.2', k, 1, true, md5(s.id::text || k), 'bench/' || md5(s.id::text || k),
              encode(sha256((s.id::text || k)::bytea), 'hex'), encode(sha256((s.id::text || k || 'o')::bytea), 'hex'),
              520000, 520400, '1.2.840.10008.1.2.1', 'CT01', st.first_received_at, st.first_stored_at, '{}'::jsonb
       from series s join studies st on st.id = s.study_id cross join generate_series(1, 2) k
       where s.group_id = $1`,
      [groupId],
    );
    // One large study (a thin-slice CT: 2,000 instances in four series) for the study page, which
    // pages its instances per series rather than listing them all.
    await client.query(
      `insert into studies (group_id, facility_id, study_instance_uid, patient_name, patient_id, patient_sex,
                            patient_name_search, patient_id_search, study_date, study_time, description,
                            accession_number, modalities, series_count, instance_count, status, updated,
                            first_received_at, last_received_at, first_stored_at, last_stored_at, completed_at)
       values ($1, $2, $3, 'LARGE^STUDY', 'PIDLARGE', 'O', 'large^study', 'pidlarge', '20260101', '101500',
               'Bench large study', 'ACCLARGE', array['CT'], 4, $4, 'complete', false, now() - interval '2 days',
               now() - interval '2 days', now() - interval '2 days', now() - interval '2 days',
               now() - interval '2 days')`,
      [groupId, facilityIds[0], LARGE_STUDY_UID, LARGE_STUDY_INSTANCES],
    );
    await client.query(
      `insert into series (group_id, study_id, series_instance_uid, modality, series_number, description,
                           instance_count)
       select group_id, id, study_instance_uid || '.' || k, 'CT', k::text, 'Bench large series ' || k, $3 / 4
       from studies cross join generate_series(1, 4) k where group_id = $1 and study_instance_uid = $2`,
      [groupId, LARGE_STUDY_UID, LARGE_STUDY_INSTANCES],
    );
    await client.query(
      `insert into instances (group_id, facility_id, gateway_id, study_id, series_id, sop_instance_uid,
                              sop_class_uid, instance_number, version, current, object_id, blob_key, sha256,
                              object_sha256, plain_bytes, object_bytes, transfer_syntax_uid, calling_ae_title,
                              received_at, stored_at, metadata)
       select s.group_id, st.facility_id, null, st.id, s.id, s.series_instance_uid || '.' || k,
              '1.2.840.10008.5.1.4.1.1.2', k, 1, true, md5(s.id::text || k), 'bench/' || md5(s.id::text || k),
              encode(sha256((s.id::text || k)::bytea), 'hex'), encode(sha256((s.id::text || k || 'o')::bytea), 'hex'),
              520000, 520400, '1.2.840.10008.1.2.1', 'CT01', st.first_received_at, st.first_stored_at, '{}'::jsonb
       from series s join studies st on st.id = s.study_id cross join generate_series(1, s.instance_count) k
       where s.group_id = $1 and st.study_instance_uid = $2`,
      [groupId, LARGE_STUDY_UID],
    );
    await client.query(
      `insert into study_events (study_id, kind, at)
       select id, 'created', first_received_at from studies where group_id = $1
       union all
       select id, 'completed', completed_at from studies where group_id = $1 and completed_at is not null`,
      [groupId],
    );
    await client.query(
      `insert into audit_log (group_id, actor_type, actor_id, action, target_type, target_id, details, at)
       select $1, 'user', 'bench', (array['facility.update','user.create','gateway.revoke','study.download'])[1 + i % 4],
              'facility', $2, jsonb_build_object('n', i), now() - i * interval '1 minute'
       from generate_series(1, $3) i`,
      [groupId, facilityIds[0], AUDIT_ROWS],
    );
    await client.query('commit');
    await client.query('analyze');
  } finally {
    await client.end();
  }
  return round((performance.now() - t0) / 1000, 1);
}

/** Signs in through the console's form like a browser and returns the session cookie. */
async function consoleSignIn(server: Server, email: string, password: string): Promise<string> {
  // The form carries a CSRF token bound to a cookie of its own, handed out with the page.
  const form = await fetch(`${server.url}/login`);
  const csrfCookie = form.headers
    .getSetCookie()
    .find((c) => c.startsWith('ferry_login_csrf='))
    ?.split(';')[0];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1];
  if (!csrfCookie || !csrf) throw new Error('console sign-in: the sign-in page has no CSRF token');
  const res = await fetch(`${server.url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrfCookie },
    body: new URLSearchParams({ _csrf: csrf, email, password, next: '/' }).toString(),
  });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('ferry_session='));
  if (res.status !== 303 || !cookie) throw new Error(`console sign-in: ${res.status} ${await res.text()}`);
  return cookie.split(';')[0] ?? '';
}

async function timePage(server: Server, cookie: string, path: string): Promise<PageResult> {
  const server_: number[] = [];
  const client: number[] = [];
  let status = 0;
  let bytes = 0;
  for (let i = 0; i < ROUNDS + 2; i++) {
    const t0 = performance.now();
    const res = await fetch(`${server.url}${path}`, { headers: { cookie }, redirect: 'manual' });
    const body = await res.text();
    const ms = performance.now() - t0;
    status = res.status;
    bytes = body.length;
    if (status !== 200) throw new Error(`${path}: ${status} ${body.slice(0, 300)}`);
    if (i < 2) continue; // warm-up: the first requests compile the page's code paths
    client.push(ms);
    const dur = /app;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1];
    if (dur === undefined) throw new Error(`${path}: no server-timing header`);
    server_.push(Number(dur));
  }
  server_.sort((a, b) => a - b);
  client.sort((a, b) => a - b);
  const serverP50Ms = round(percentile(server_, 50));
  return {
    path,
    status,
    bytes,
    serverP50Ms,
    serverP99Ms: round(percentile(server_, 99)),
    clientP50Ms: round(percentile(client, 50)),
    clientP99Ms: round(percentile(client, 99)),
    withinTarget: serverP50Ms < TARGET_MS,
  };
}

async function main() {
  if (!process.env.FERRY_BENCH_NO_BUILD)
    execFileSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
      cwd: root,
      stdio: 'inherit',
    });
  if (!(await postgresReachable()))
    throw new Error(`the console benchmark needs PostgreSQL at ${PG_URL} (FERRY_TEST_DATABASE_URL)`);
  const scratch = await mkdtemp(join(tmpdir(), 'ferry-bench-console-'));
  const dbName = `ferry_bench_console_${Date.now().toString(36)}_${process.pid}`;
  await withAdmin((c) => c.query(`create database "${dbName}"`));
  const u = new URL(PG_URL);
  u.pathname = `/${dbName}`;
  const databaseUrl = u.toString();
  const adminEmail = 'bench-admin@example.test';
  const adminPassword = randomBytes(18).toString('base64url');
  const server = await startServer({
    logLevel: LOG_LEVEL,
    dataDir: scratch,
    adminEmail,
    adminPassword,
    databaseUrl,
  });
  try {
    const session = await signIn(server, adminEmail, adminPassword);
    const facilityIds = await createFacilities(server, session);
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const groupId = (
      await db.query<{ group_id: string }>('select group_id from users where email = $1', [adminEmail])
    ).rows[0]?.group_id;
    if (!groupId) throw new Error('no admin group');
    const seedSeconds = await seed(databaseUrl, groupId, facilityIds);
    const gatewayId = (await db.query<{ id: string }>("select id from gateways where hostname = 'gw-0250'"))
      .rows[0]?.id;
    const studyUid = (
      await db.query<{ study_instance_uid: string }>(
        "select study_instance_uid from studies where patient_id = 'PID005000'",
      )
    ).rows[0]?.study_instance_uid;
    const counts = (
      await db.query<{ studies: string; gateways: string; instances: string }>(
        `select (select count(*) from studies) studies, (select count(*) from gateways) gateways,
                (select count(*) from instances) instances`,
      )
    ).rows[0];
    await db.end();
    console.log(
      `seeded ${counts?.studies} studies (${counts?.instances} instance rows), ${counts?.gateways} gateways in ${FACILITIES} facilities, ${AUDIT_ROWS} audit entries in ${seedSeconds} s`,
    );

    const cookie = await consoleSignIn(server, adminEmail, adminPassword);
    const paths = [
      '/fleet',
      '/fleet?status=degraded',
      '/worklist',
      '/worklist?q=patient0042',
      '/worklist?q=PID0050',
      '/worklist?status=receiving&modality=CT',
      '/facilities',
      '/users',
      '/audit',
      `/studies/${encodeURIComponent(studyUid ?? '')}`,
      `/studies/${LARGE_STUDY_UID}`,
      `/studies/${LARGE_STUDY_UID}?series=${LARGE_STUDY_UID}.2&page=8`,
      `/gateways/${gatewayId}`,
    ];
    const pages: PageResult[] = [];
    console.log(
      `\n${'page'.padEnd(44)} ${'server p50/p99 ms'.padStart(18)} ${'client p50/p99 ms'.padStart(18)}`,
    );
    for (const path of paths) {
      const r = await timePage(server, cookie, path);
      pages.push(r);
      console.log(
        `${path.slice(0, 44).padEnd(44)} ${`${r.serverP50Ms} / ${r.serverP99Ms}`.padStart(18)} ${`${r.clientP50Ms} / ${r.clientP99Ms}`.padStart(18)}${r.withinTarget ? '' : '  OVER TARGET'}`,
      );
    }
    const allWithin = pages.every((p) => p.withinTarget);
    console.log(
      `\ntarget: every page renders in under ${TARGET_MS} ms server-side (median of ${ROUNDS}; p99 shown, it carries the shared machine's noise): ${allWithin ? 'met' : 'NOT met'}. ` +
        'No outside peer exists for this console; the comparison is with the target.',
    );
    const result = {
      benchmark: 'console',
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      database: 'postgresql',
      data: {
        studies: Number(counts?.studies),
        instances: Number(counts?.instances),
        gateways: Number(counts?.gateways),
        facilities: FACILITIES,
        auditEntries: AUDIT_ROWS,
      },
      rounds: ROUNDS,
      targetMs: TARGET_MS,
      measured:
        'server = server-timing app;dur (console middleware to rendered response); client = full request on loopback',
      peer: 'none: no outside peer for this web console; compared with the target',
      allWithinTarget: allWithin,
      pages,
    };
    await mkdir(join(root, 'bench', 'results'), { recursive: true });
    await writeFile(
      join(root, 'bench', 'results', 'console-latest.json'),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    if (!allWithin) process.exitCode = 1;
  } finally {
    await server.stop();
    await withAdmin((c) => c.query(`drop database if exists "${dbName}" with (force)`)).catch(() => {});
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
