// Ferry's layering rules. `npm run check:structure` runs them (scripts/check-structure.mjs) over
// agent/src, control-plane/src, shared/src and testkit; a violation prints the rule's name and its
// comment. docs/architecture.md's folder section is generated from these rules and
// scripts/structure-layout.cjs, so change the three together.
const path = require('node:path');
const { agentFloors, agentBase } = require('./scripts/structure-layout.cjs');

/** Test files drive their module from outside (seed a database, start a fake peer): most rules skip them. */
const TEST_FILE = '\\.test\\.tsx?$';
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const alt = (names) => names.map(esc).join('|');

/** `^agent/src/(a|b)/` for folders and `^agent/src/(x\.ts)$` for files. */
function agentPaths(floors) {
  const folders = floors.flatMap((f) => Object.keys(f.folders ?? {}));
  const files = floors.flatMap((f) => Object.keys(f.files ?? {}));
  const parts = [];
  if (folders.length > 0) parts.push(`^agent/src/(${alt(folders)})/`);
  if (files.length > 0) parts.push(`^agent/src/(${alt(files)})$`);
  return parts.join('|');
}

const floorRuleName = {
  'composition root': 'agent-root-below-cli',
  operations: 'agent-operations-floor',
  'study path': 'agent-study-path-floor',
  cloud: 'agent-cloud-floor',
  spool: 'agent-spool-floor',
};
const floorComment = {
  'composition root':
    'agent.ts is the composition root: it wires the floors below it and is started by cli/, never the reverse.',
  operations:
    'health/, diagnostics/ and live-config/ watch and steer the study path from above; none imports another or agent.ts or cli/, so each can be tested with the floors below alone.',
  'study path':
    'uploader/ and dimse/ are two independent halves of the study path that meet only in the spool (dimse writes, the uploader reads); neither imports the other or anything above them.',
  cloud:
    'cloud/ is the HTTP client, identity and agent tokens; it serves the floors above and may import only the spool and the base files, so the protocol to the control plane does not depend on how studies arrive or are uploaded.',
  spool:
    'The spool is the bottom floor: it owns what is durable before Success and imports nothing of dimse/, uploader/ or cloud/ (nor anything above), so a change to DIMSE, the upload loop or the protocol cannot change what is on disk.',
};

// One rule per floor below cli/: its folders may import neither a floor above nor a sibling on their own
// floor. `$1` is the folder the importing module is in, so a folder may always import itself.
const floorRules = agentFloors.slice(1).map((floor, i) => {
  const aboveAndHere = agentFloors.slice(0, i + 2);
  const from = agentPaths([floor]);
  return {
    name: floorRuleName[floor.name],
    comment: floorComment[floor.name],
    severity: 'error',
    from: { path: from, pathNot: TEST_FILE },
    to: { path: agentPaths(aboveAndHere), pathNot: floor.folders ? '^agent/src/$1/' : '^agent/src/$1$' },
  };
});

/** Node's core modules that touch files, sockets, processes, threads, the terminal or the host. */
const IO_CORE = [
  'fs',
  'fs/promises',
  'net',
  'tls',
  'http',
  'https',
  'http2',
  'dgram',
  'dns',
  'dns/promises',
  'child_process',
  'cluster',
  'worker_threads',
  'readline',
  'readline/promises',
  'repl',
  'inspector',
  'os',
  'process',
  'v8',
  'vm',
  'module',
  'sqlite',
];
/** The clients this repository uses for a database, the object store, the network and log output. */
const IO_PACKAGES = [
  'pg',
  '@electric-sql/pglite',
  'drizzle-orm',
  '@aws-sdk/[^/]+',
  'undici',
  'ws',
  '@hono/node-server',
  'pino',
  'archiver',
  'sharp',
];

module.exports = {
  forbidden: [
    {
      name: 'meet-only-in-shared',
      comment:
        'The agent runs in a hospital and the control plane in the cloud; they meet only in shared/ (formats, protocol, errors), so neither ships the other and the wire contract lives in one place.',
      severity: 'error',
      from: { path: '^(agent|control-plane)/', pathNot: TEST_FILE },
      to: { path: '^(agent|control-plane)/', pathNot: '^$1/' },
    },
    {
      name: 'shared-imports-neither-side',
      comment:
        'shared/ is what the agent and the control plane agree on; if it imported either side (or test scaffolding), the other side would ship it too.',
      severity: 'error',
      from: { path: '^shared/src/', pathNot: TEST_FILE },
      to: { path: '^(agent|control-plane|testkit|test)/' },
    },
    {
      name: 'shared-does-no-io',
      comment:
        'shared/ computes formats (sealed objects, manifests, tokens, errors) the same way on both sides; files, sockets, processes, databases and logs belong to the side that owns them, which keeps shared/ pure and testable on bytes alone.',
      severity: 'error',
      from: { path: '^shared/src/', pathNot: TEST_FILE },
      to: {
        path: [
          `^(node:)?(${IO_CORE.map(esc).join('|')})$`,
          `^(node_modules/)?(${IO_PACKAGES.map((p) => p.replace(/[.]/g, '\\.')).join('|')})(/|$)`,
        ],
      },
    },
    ...floorRules,
    {
      name: 'agent-base-files-import-no-floor',
      comment: `agent/src/{${Object.keys(agentBase).join(',')}} are shared by every floor, so they may import none of them (that would be a floor importing itself from below).`,
      severity: 'error',
      from: { path: `^agent/src/(${alt(Object.keys(agentBase))})$` },
      to: { path: agentPaths(agentFloors) },
    },
    {
      name: 'dimse-and-spool-never-reach-uploader',
      comment:
        'A study is acknowledged once it is durable in the spool; if dimse/ or the spool reached the uploader, even indirectly, the cloud being slow or down could change what the modality is told.',
      severity: 'error',
      from: { path: '^agent/src/(dimse|spool)/', pathNot: TEST_FILE },
      to: { path: '^agent/src/uploader/', reachable: true },
    },
    {
      name: 'edges-go-through-services',
      comment:
        'Every state change and every blob read goes through a service in services/ (or ingest/), so the edges (edge/, routes/, web/, ws/, viewer/) import services and their view types, never db/ or storage/: sessions, authorization, audit and decryption each have one door.',
      severity: 'error',
      from: { path: '^control-plane/src/(edge|routes|web|ws|viewer)/', pathNot: TEST_FILE },
      to: { path: '^control-plane/src/(db|storage)/' },
    },
    {
      name: 'nothing-runs-back-up-to-the-edges',
      comment:
        'The edges (edge/, routes/, web/, ws/, viewer/) call the layers below them; a service, job or store that imported an edge would make the call graph run back up, so what the edges share with services lives in services/ or at the app level (app-deps.ts).',
      severity: 'error',
      from: {
        path: '^control-plane/src/(services|ingest|jobs|db|storage|dicom|keys|auth|webhooks|agent-release)/',
        pathNot: TEST_FILE,
      },
      to: { path: '^control-plane/src/(edge|routes|web|ws|viewer)/' },
    },
    {
      name: 'console-pages-stand-alone',
      comment:
        'A console page (web/pages/<name>.tsx, or the folder web/pages/<name>/ with its browser script and styles) imports shared pieces from web/components/, never another page, so a page can be changed or removed without breaking one it never mentions.',
      severity: 'error',
      from: { path: '^control-plane/src/web/pages/([^/.]+)', pathNot: TEST_FILE },
      to: { path: '^control-plane/src/web/pages/', pathNot: '^control-plane/src/web/pages/$1[/.]' },
    },
    {
      name: 'ingest-below-services',
      comment:
        "ingest/ is the study's path in the cloud (verify, index, lifecycle); the services offer-uploads and complete-uploads are short verbs over it, so ingest/ never imports services/ and the path reads top to bottom.",
      severity: 'error',
      from: { path: '^control-plane/src/ingest/', pathNot: TEST_FILE },
      to: { path: '^control-plane/src/services/' },
    },
    {
      name: 'no-circular',
      comment:
        'An import cycle makes two modules one: neither can be understood, tested or moved alone, and load order decides which sees the other half-initialised.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-not-to-test-scaffolding',
      comment:
        "What ships must not contain test scaffolding: nothing in a package's src (test files aside) imports testkit/, test/ or a package's test/ folder.",
      severity: 'error',
      from: { path: '^(agent|control-plane|shared)/src/', pathNot: TEST_FILE },
      to: { path: '^(testkit|test|agent/test|control-plane/test|shared/test)/' },
    },
  ],
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    // Type-only imports count: a route that imports a database row type depends on the schema.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: path.join(__dirname, 'tsconfig.base.json') },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      // `@ferry/shared` resolves to shared/src/index.ts through its "types" export, like tsc does.
      conditionNames: ['types', 'import', 'node', 'default'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json'],
    },
    skipAnalysisNotInRules: true,
  },
};
