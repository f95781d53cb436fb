// The generated tables of docs/conformance.md, printed from the tables the agent decides with, so the
// conformance statement cannot drift from the code: the transfer syntaxes of PS3.6 it accepts (and
// which it walks with the dataset structure check), the standard Storage SOP Classes and the default
// private ones. `npx tsx scripts/conformance-tables.ts` prints them; `--write` rewrites them between
// their markers in docs/conformance.md; test/runtime/conformance-doc.test.ts fails when they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { datasetCheckFor } from '../agent/src/dimse/dataset-check-syntax.js';
import { STANDARD_STORAGE_SOP_CLASSES } from '../agent/src/dimse/standard-storage-sop-classes.js';
import { STANDARD_TRANSFER_SYNTAXES } from '../agent/src/dimse/standard-transfer-syntaxes.js';
import { DEFAULT_PRIVATE_SOP_CLASSES } from '../shared/src/dicom/private-storage-sop-classes.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
export const CONFORMANCE_DOC = resolve(repo, 'docs/conformance.md');
const PRIVATE_CLASSES_SOURCE = resolve(repo, 'shared/src/dicom/private-storage-sop-classes.ts');

const KIND_WORDS = {
  uncompressed: 'uncompressed',
  compressed: 'compressed',
  other: 'other',
} as const;

/** Whether the C-STORE dataset structure check walks datasets in `uid` (dataset-check-syntax.ts). */
function structureChecked(uid: string): boolean {
  const check = datasetCheckFor(uid);
  check?.dispose();
  return check !== undefined;
}

function transferSyntaxTable(): string {
  const rows = [...STANDARD_TRANSFER_SYNTAXES].map(
    ([uid, { kind, name }]) =>
      `| ${name} | \`${uid}\` | ${KIND_WORDS[kind]} | ${structureChecked(uid) ? 'yes' : 'no'} |`,
  );
  return [
    `${STANDARD_TRANSFER_SYNTAXES.size} transfer syntaxes, from \`agent/src/dimse/standard-transfer-syntaxes.ts\`.`,
    '',
    '| Transfer syntax | UID | Kind (for the policy) | Structure checked |',
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

function storageClassTable(): string {
  const rows = [...STANDARD_STORAGE_SOP_CLASSES].map(([uid, name]) => `| ${name} | \`${uid}\` | SCP |`);
  return [
    `${STANDARD_STORAGE_SOP_CLASSES.size} SOP classes, from \`agent/src/dimse/standard-storage-sop-classes.ts\`.`,
    '',
    '| SOP class | UID | Role |',
    '| --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** The names are the comments beside each UID in the source; the UIDs are the array's. */
function privateClassTable(): string {
  const source = readFileSync(PRIVATE_CLASSES_SOURCE, 'utf8');
  const names = new Map(
    [...source.matchAll(/^\s*'([0-9.]+)',\s*\/\/\s*(.+)$/gm)].map((m) => [m[1]!, m[2]!.trim()]),
  );
  const rows = DEFAULT_PRIVATE_SOP_CLASSES.map((uid) => `| ${names.get(uid) ?? '—'} | \`${uid}\` | SCP |`);
  return [
    `${DEFAULT_PRIVATE_SOP_CLASSES.length} SOP classes, from \`shared/src/dicom/private-storage-sop-classes.ts\`.`,
    '',
    '| SOP class | UID | Role |',
    '| --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** Each generated section by its marker name. */
export function generatedSections(): Record<string, string> {
  return {
    'transfer-syntaxes': transferSyntaxTable(),
    'storage-sop-classes': storageClassTable(),
    'private-sop-classes': privateClassTable(),
  };
}

/** `doc` with every generated section replaced by what the code says now; throws on a missing marker. */
export function withGeneratedSections(doc: string): string {
  let out = doc;
  for (const [name, body] of Object.entries(generatedSections())) {
    const begin = `<!-- generated:${name}:begin -->`;
    const end = `<!-- generated:${name}:end -->`;
    const from = out.indexOf(begin);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`docs/conformance.md lacks the markers ${begin} … ${end}`);
    out = `${out.slice(0, from + begin.length)}\n${body}\n${out.slice(to)}`;
  }
  return out;
}

function main(): void {
  if (process.argv.includes('--write')) {
    const doc = readFileSync(CONFORMANCE_DOC, 'utf8');
    const next = withGeneratedSections(doc);
    if (next !== doc) writeFileSync(CONFORMANCE_DOC, next);
    console.log(next === doc ? 'docs/conformance.md is current' : 'docs/conformance.md rewritten');
    return;
  }
  for (const [name, body] of Object.entries(generatedSections())) console.log(`## ${name}\n\n${body}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
