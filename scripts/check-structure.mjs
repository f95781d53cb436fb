#!/usr/bin/env node
// Checks the repository's structure and fails with each rule's name and the sentence saying why it exists:
//   - the layering rules of .dependency-cruiser.cjs (run through dependency-cruiser, `err-long` report),
//   - max-600-lines: no source file in agent/src, control-plane/src or shared/src over 600 lines,
//   - folders-have-a-place: every folder and top-level file of a package's src is in
//     scripts/structure-layout.cjs (so the floor rules cover it and the design page describes it),
//   - architecture-doc-current: the generated section of docs/architecture.md matches the rules.
// Usage: node scripts/check-structure.mjs [--root DIR] [--write-docs]
//   --root DIR     check another tree laid out like this repository (the structure test's fixtures)
//   --write-docs   rewrite the generated section of DIR/docs/architecture.md instead of checking it
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const configFile = join(repo, '.dependency-cruiser.cjs');
const config = require(configFile);
const layout = require('./structure-layout.cjs');

const { values: args } = parseArgs({
  options: { root: { type: 'string' }, 'write-docs': { type: 'boolean', default: false } },
});
const root = args.root ? resolve(args.root) : repo;

const MAX_LINES = 600;
const SOURCE = /\.(ts|tsx|mts|js|mjs)$/;

/** A source file, not a compiler's output (a .d.ts, or a .js beside the .ts it was emitted from). */
function isSource(file) {
  if (!SOURCE.test(file) || file.endsWith('.d.ts')) return false;
  const stem = file.replace(/\.m?js$/, '');
  return stem === file || !(existsSync(join(root, `${stem}.ts`)) || existsSync(join(root, `${stem}.tsx`)));
}
const TEST_FILE = /\.test\.tsx?$/;
const CRUISED = ['agent/src', 'control-plane/src', 'shared/src', 'testkit'];
const DOC = 'docs/architecture.md';
const BEGIN = '<!-- structure:begin -->';
const END = '<!-- structure:end -->';

const WHY = {
  'max-600-lines': `A file over ${MAX_LINES} lines almost always mixes jobs; split it along them so each module is small and named for what it does (tests are exempt).`,
  'folders-have-a-place':
    'Every folder and top-level file of agent/src, control-plane/src and shared/src has a line in scripts/structure-layout.cjs, so the floor rules cover it and docs/architecture.md describes it.',
  'architecture-doc-current': `The folder section of ${DOC} is generated from the rules; it must say what the rules say. Run \`npm run check:structure -- --write-docs\` and commit the page.`,
};

/** Files under `dir` (repo-relative paths), skipping node_modules and dist. */
function walk(dir) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  const out = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...walk(rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

const violations = [];
const fail = (rule, what) => violations.push({ rule, what });

// max-600-lines
for (const pkg of ['agent/src', 'control-plane/src', 'shared/src']) {
  for (const file of walk(pkg)) {
    if (!isSource(file) || TEST_FILE.test(file)) continue;
    const text = readFileSync(join(root, file), 'utf8');
    const lines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
    if (lines > MAX_LINES) fail('max-600-lines', `${file} has ${lines} lines (limit ${MAX_LINES})`);
  }
}

// folders-have-a-place: what is on disk against the layout (an empty folder left by a move does not count).
const agentFolders = Object.fromEntries(layout.agentFloors.flatMap((f) => Object.entries(f.folders ?? {})));
const agentFiles = {
  ...Object.fromEntries(layout.agentFloors.flatMap((f) => Object.entries(f.files ?? {}))),
  ...layout.agentBase,
};
const packages = [
  { src: 'agent/src', folders: agentFolders, files: agentFiles },
  { src: 'control-plane/src', folders: layout.controlPlaneFolders, files: layout.controlPlaneFiles },
  { src: 'shared/src', folders: layout.sharedFolders, files: layout.sharedFiles },
];
/** The folders and top-level non-test files of `src` that hold at least one file. */
function onDisk(src) {
  const abs = join(root, src);
  if (!existsSync(abs)) return { folders: [], files: [] };
  const folders = [];
  const files = [];
  for (const name of readdirSync(abs).sort()) {
    if (statSync(join(abs, name)).isDirectory()) {
      if (walk(`${src}/${name}`).length > 0) folders.push(name);
    } else if (isSource(`${src}/${name}`) && !TEST_FILE.test(name)) files.push(name);
  }
  return { folders, files };
}
for (const pkg of packages) {
  const found = onDisk(pkg.src);
  for (const f of found.folders)
    if (!(f in pkg.folders))
      fail('folders-have-a-place', `${pkg.src}/${f}/ is not in scripts/structure-layout.cjs`);
  for (const f of found.files)
    if (!(f in pkg.files))
      fail('folders-have-a-place', `${pkg.src}/${f} is not in scripts/structure-layout.cjs`);
}

// The layering rules, through dependency-cruiser.
const dirs = CRUISED.filter((d) => existsSync(join(root, d)));
// The package exports only its API, so find its command through the API's file (src/main/index.mjs).
const cruiserDir = join(dirname(fileURLToPath(import.meta.resolve('dependency-cruiser'))), '../..');
const cruiser = join(
  cruiserDir,
  JSON.parse(readFileSync(join(cruiserDir, 'package.json'), 'utf8')).bin.depcruise,
);
const cruise = spawnSync(
  process.execPath,
  [cruiser, ...dirs, '--config', configFile, '--output-type', 'err-long', '--no-progress'],
  { cwd: root, encoding: 'utf8' },
);
const cruiseFailed = cruise.status !== 0;
if (cruise.error) throw cruise.error;

// architecture-doc-current
const section = renderSection();
const docFile = join(root, DOC);
if (existsSync(docFile)) {
  const doc = readFileSync(docFile, 'utf8');
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) {
    fail('architecture-doc-current', `${DOC} has no ${BEGIN} ... ${END} section`);
  } else {
    const current = doc.slice(begin + BEGIN.length, end);
    const wanted = `\n${section}\n`;
    if (current !== wanted) {
      if (args['write-docs']) {
        writeFileSync(docFile, doc.slice(0, begin + BEGIN.length) + wanted + doc.slice(end));
        console.log(`check-structure: rewrote the generated section of ${DOC}`);
      } else {
        fail('architecture-doc-current', `the section between the structure markers of ${DOC} is stale`);
      }
    }
  }
} else if (root === repo) {
  fail('architecture-doc-current', `${DOC} is missing`);
}

// Report: dependency-cruiser's own report first (it already names each rule and its comment), then ours.
if (cruiseFailed) process.stdout.write(cruise.stdout + cruise.stderr);
for (const v of violations) {
  console.log(`\n  error ${v.rule}: ${v.what}`);
  console.log(`    ${WHY[v.rule]}`);
}
if (cruiseFailed || violations.length > 0) {
  const cruised = /(\d+) dependency violations?/.exec(cruise.stdout)?.[1];
  const layering = cruiseFailed
    ? cruised
      ? `${cruised} layering`
      : 'dependency-cruiser did not run, see above'
    : '0 layering';
  console.log(`\ncheck-structure: failed (${layering}, ${violations.length} other).`);
  process.exit(1);
}
console.log(
  `check-structure: ok (${dirs.join(', ')}: layering rules, ${MAX_LINES}-line limit, folders, ${DOC})`,
);

// --- the generated section of docs/architecture.md ---------------------------------------------------

/** Whether `rule` forbids a module at `from` importing one at `to` (dependency-cruiser's path semantics). */
function forbids(rule, from, to) {
  if (!rule.from || !rule.to || rule.to.circular) return false;
  const any = (re, s, groups) => {
    const list = Array.isArray(re) ? re : [re];
    return list.some((r) => new RegExp(r.replace(/\$(\d)/g, (_, n) => groups?.[n] ?? '')).test(s));
  };
  const fromRes = Array.isArray(rule.from.path) ? rule.from.path : [rule.from.path ?? '.'];
  let groups;
  for (const r of fromRes) {
    const m = new RegExp(r).exec(from);
    if (m) {
      groups = m;
      break;
    }
  }
  if (!groups) return false;
  if (rule.from.pathNot && any(rule.from.pathNot, from)) return false;
  if (rule.to.path && !any(rule.to.path, to, groups)) return false;
  if (rule.to.pathNot && any(rule.to.pathNot, to, groups)) return false;
  return true;
}

/** The targets `from` may not import, each with the first rule that forbids it. */
function forbidden(from, targets) {
  const out = [];
  for (const [label, to] of targets) {
    if (to === from) continue;
    const rule = config.forbidden.find((r) => forbids(r, from, to));
    if (rule) out.push({ label, rule: rule.name });
  }
  return out;
}

/** "a/, b/ (`rule-x`); c/ (`rule-y`)", or a dash for none. */
function describe(entries) {
  const byRule = new Map();
  for (const { label, rule } of entries) byRule.set(rule, [...(byRule.get(rule) ?? []), `\`${label}\``]);
  return [...byRule].map(([rule, labels]) => `${labels.join(', ')} (\`${rule}\`)`).join('; ') || '—';
}

/**
 * One package's rows: what each row may not import inside the package, and once for the package what
 * every row may not import outside it (a row that differs outside keeps its difference).
 */
function packageRows(rows, inside, outside) {
  const crossOf = rows.map(({ from }) => forbidden(from, outside));
  const key = (e) => `${e.label}\0${e.rule}`;
  const common = crossOf.reduce(
    (acc, entries) => acc.filter((k) => entries.some((e) => key(e) === k)),
    (crossOf[0] ?? []).map(key),
  );
  const wide = (crossOf[0] ?? []).filter((e) => common.includes(key(e)));
  const lines = rows.map((row, i) => ({
    ...row,
    not: describe([...forbidden(row.from, inside), ...crossOf[i].filter((e) => !common.includes(key(e)))]),
  }));
  return { lines, wide: describe(wide) };
}

function renderSection() {
  const agentDisk = onDisk('agent/src');
  const cpDisk = onDisk('control-plane/src');
  const sharedDisk = onDisk('shared/src');
  // A module standing for each folder or file, the way dependency-cruiser sees the import's target.
  const agentTargets = [
    ...agentDisk.folders.filter((f) => f in agentFolders).map((f) => [`${f}/`, `agent/src/${f}/x.ts`]),
    ...agentDisk.files.filter((f) => f in agentFiles).map((f) => [f, `agent/src/${f}`]),
  ];
  const cpTargets = [
    ...cpDisk.folders
      .filter((f) => f in layout.controlPlaneFolders)
      .map((f) => [`${f}/`, `control-plane/src/${f}/x.ts`]),
    ...cpDisk.files.filter((f) => f in layout.controlPlaneFiles).map((f) => [f, `control-plane/src/${f}`]),
  ];
  const elsewhere = [
    ['agent/', 'agent/src/x.ts'],
    ['control-plane/', 'control-plane/src/x.ts'],
    ['testkit/', 'testkit/x.ts'],
    ['test/', 'test/x.ts'],
    ['control-plane/test/', 'control-plane/test/x.ts'],
    ['node:fs, node:net, pg, … (I/O)', 'fs'],
  ];
  const out = [];
  out.push('<!-- Generated by scripts/check-structure.mjs from .dependency-cruiser.cjs and');
  out.push(
    '     scripts/structure-layout.cjs: edit those and run `npm run check:structure -- --write-docs`. -->',
  );
  out.push('');
  out.push('### Agent (`agent/src`): floors, top first');
  out.push('');
  const agentRows = [];
  for (const floor of [...layout.agentFloors, { name: 'base', files: layout.agentBase }]) {
    for (const [f, holds] of Object.entries(floor.folders ?? {}))
      if (agentDisk.folders.includes(f))
        agentRows.push({ floor: floor.name, label: `${f}/`, from: `agent/src/${f}/x.ts`, holds });
    for (const [f, holds] of Object.entries(floor.files ?? {}))
      if (agentDisk.files.includes(f))
        agentRows.push({ floor: floor.name, label: f, from: `agent/src/${f}`, holds });
  }
  const agent = packageRows(agentRows, agentTargets, elsewhere);
  out.push('| Floor | Folder or file | Holds | May import | Must not import (rule) |');
  out.push('|---|---|---|---|---|');
  for (const row of agent.lines) {
    const may = agentTargets
      .filter(([l, to]) => l !== row.label && !config.forbidden.some((r) => forbids(r, row.from, to)))
      .map(([l]) => `\`${l}\``);
    out.push(`| ${row.floor} | \`${row.label}\` | ${row.holds} | ${may.join(', ') || '—'} | ${row.not} |`);
  }
  out.push('');
  out.push(`Every module of \`agent/src\` may import \`@ferry/shared\`, and none imports ${agent.wide}.`);
  out.push('');
  out.push('### Control plane (`control-plane/src`)');
  out.push('');
  const cpRows = [
    ...Object.entries(layout.controlPlaneFolders)
      .filter(([f]) => cpDisk.folders.includes(f))
      .map(([f, holds]) => ({ label: `${f}/`, from: `control-plane/src/${f}/x.ts`, holds })),
    ...Object.entries(layout.controlPlaneFiles)
      .filter(([f]) => cpDisk.files.includes(f))
      .map(([f, holds]) => ({ label: f, from: `control-plane/src/${f}`, holds })),
  ];
  const cp = packageRows(cpRows, cpTargets, elsewhere);
  out.push('| Folder or file | Holds | Must not import (rule) |');
  out.push('|---|---|---|');
  for (const row of cp.lines) out.push(`| \`${row.label}\` | ${row.holds} | ${row.not} |`);
  out.push('');
  out.push(
    `Every module of \`control-plane/src\` may import \`@ferry/shared\`, and none imports ${cp.wide}.`,
  );
  out.push('');
  out.push('### Shared (`shared/src`)');
  out.push('');
  const sharedRows = Object.entries(layout.sharedFolders)
    .filter(([f]) => sharedDisk.folders.includes(f))
    .map(([f, holds]) => ({ label: `${f}/`, from: `shared/src/${f}/x.ts`, holds }));
  const shared = packageRows(sharedRows, [], elsewhere);
  const sharedDiffers = shared.lines.some((row) => row.not !== '—');
  out.push(sharedDiffers ? '| Folder | Holds | Must not import (rule) |' : '| Folder | Holds |');
  out.push(sharedDiffers ? '|---|---|---|' : '|---|---|');
  for (const row of shared.lines)
    out.push(`| \`${row.label}\` | ${row.holds} |${sharedDiffers ? ` ${row.not} |` : ''}`);
  out.push('');
  out.push(`No module of \`shared/src\` imports ${shared.wide}.`);
  out.push('');
  out.push('### Test scaffolding (`testkit`)');
  out.push('');
  for (const [f, holds] of Object.entries(layout.testkitFolders)) {
    if (existsSync(join(root, 'testkit', f))) out.push(`- \`testkit/${f}/\`: ${holds}.`);
  }
  out.push('');
  out.push(
    'Test files (`*.test.ts`, `*.int.test.ts`) are exempt from every rule but `no-circular`: a test drives',
  );
  out.push('its module from outside, so it may seed the database, start the other side and use `testkit/`.');
  out.push('');
  out.push('### The rules');
  out.push('');
  for (const rule of config.forbidden) out.push(`- \`${rule.name}\`: ${rule.comment}`);
  for (const [name, why] of Object.entries(WHY)) out.push(`- \`${name}\`: ${why}`);
  return out.join('\n');
}
