// The folders of each package, the floor each stands on and one line on what it holds. The layering
// rules in .dependency-cruiser.cjs are built from this table, and scripts/check-structure.mjs writes the
// "Folders and what each may import" section of docs/architecture.md from it, so the rules, the page and
// the tree cannot drift apart: a folder on disk that is missing here fails the check.

/**
 * The agent's floors, top first. A module may import its own folder, any floor below its own and the
 * base files; never a floor above, nor a sibling folder on its own floor.
 */
const agentFloors = [
  {
    name: 'cli',
    folders: {
      cli: 'the `ferry-agent` commands: enroll, start, run (the supervisor), status, doctor, export, rotate-key',
    },
  },
  {
    name: 'composition root',
    files: {
      'agent.ts': 'builds the spool, listener, uploader, channel and monitors and wires them together',
    },
  },
  {
    name: 'operations',
    folders: {
      health: 'health conditions and the monitor that reports them to the cloud',
      diagnostics: 'on-demand diagnostics the cloud asks for (echo, upload test)',
      'live-config': 'the websocket channel to the cloud and the applier of pushed settings',
      upgrade:
        'installing a signed release beside the running one, and the release state the supervisor reads',
    },
  },
  {
    name: 'study path',
    folders: {
      uploader: 'the loop that offers, sends and completes sealed objects, with backoff and throttling',
      dimse: 'the DICOM listener: associations, PDUs, C-ECHO and C-STORE, mapping spool outcomes to statuses',
    },
  },
  {
    name: 'cloud',
    folders: {
      cloud: 'the HTTP client to the control plane, identity, agent tokens, deadlines, recipient key',
    },
  },
  {
    name: 'spool',
    folders: {
      spool: 'the encrypted, durable store: writing, sealing, the log of objects, ranges and retention',
    },
  },
];

/** Files at the top of agent/src that every floor may import; they import no floor themselves. */
const agentBase = {
  'config.ts': "agent.json's schema and loading",
  'logger.ts': 'the pino logger, the ring of recent lines and PHI stripping',
  'version.ts': "the agent's version and build",
  'read-optional.ts': 'reading a file that may be absent',
  'data-dir.ts': 'the private data directory check, and fsyncing a directory',
};

/** Control-plane folders; the rules name which of them the edges may not import. */
const controlPlaneFolders = {
  edge: 'the HTTP edge: session and agent-token middleware, CORS, response headers, error mapping',
  routes: 'the JSON API and DICOMweb routes',
  web: 'the console: pages (each beside its browser script and styles) and components/ (Field, StatusBadge, Pager, …)',
  ws: 'the websocket hub that holds one channel per gateway',
  viewer: 'serves the pinned OHIF viewer and its configuration',
  services: 'one verb per file: every state change and every blob read goes through one',
  ingest: "the study's path in the cloud: verify an object, index its fields, the study lifecycle",
  jobs: 'background work: the pg-boss job queue (study completion) and periodic jobs (liveness, webhook delivery, sweeps)',
  webhooks: 'webhook targets, signatures and the address policy',
  auth: 'passwords, sessions and agent tokens',
  keys: 'recipient keys and secrets at rest',
  dicom: 'DICOM JSON, Part-10 layout, transcoding and rendering',
  db: 'the schema, the client and the SQL queries',
  storage: 'blob stores (file system, S3), sealed-object indexes and zip streams',
  'agent-release': 'the agent bundle the control plane serves for installs',
  cli: 'the `ferry-control-plane keys` commands',
};

const controlPlaneFiles = {
  'main.ts': 'the command line: serve, migrate, keys',
  'server.ts': 'starts the HTTP server, the websocket hub and the jobs',
  'app.ts': 'builds the Hono app: edge, routes, console, viewer',
  'app-deps.ts': 'what the app is built from (database, blob store, keys, hub, logger)',
  'context.ts': 'the acting principal and tenant every service receives',
  'env.ts': 'reading the environment',
  'data-dir.ts': 'the private data directory',
};

const sharedFolders = {
  crypto: 'sealed objects: the format, sealing, opening, compression, keys and key thumbprints',
  protocol: 'the wire contract: manifests, uploads, agent tokens, the channel, health, pushed settings',
  errors: 'FerryError and the one table of error codes',
  dicom: 'UIDs, transfer syntaxes and AE titles',
  'data-dir': 'the private umask and directory mode both programs use',
  async: 'small async helpers (mapLimit)',
};

const sharedFiles = { 'index.ts': 'the package entry: re-exports every folder' };

/** Test scaffolding, outside every package's src. */
const testkitFolders = {
  'control-plane':
    'in-process control planes, database clones, blob backends, seeding, attack and security suites',
  agent: 'spools on a temporary directory and a fake control plane for the agent',
};

module.exports = {
  agentFloors,
  agentBase,
  controlPlaneFolders,
  controlPlaneFiles,
  sharedFolders,
  sharedFiles,
  testkitFolders,
};
