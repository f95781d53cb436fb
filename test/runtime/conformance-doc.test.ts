// docs/conformance.md must say what the agent does: its generated tables (transfer syntaxes, storage
// SOP classes, default private ones) must be what scripts/conformance-tables.ts prints from the code's
// tables now, and its hand-written defaults, identifiers, status codes and policy examples must match
// the code they describe. A change to either side without the other fails here.
import { readFileSync } from 'node:fs';
import { ERROR_CODES, PUSHED_SETTINGS, TS } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../agent/src/config.js';
import { ERROR_COMMENT_MAX } from '../../agent/src/dimse/command.js';
import { FailureReason, MAX_COMMITMENT_DATASET_BYTES } from '../../agent/src/dimse/commitment-dataset.js';
import { NActionStatus } from '../../agent/src/dimse/commitment-messages.js';
import { MAX_ASSOCIATE_RQ_BYTES } from '../../agent/src/dimse/connection.js';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from '../../agent/src/dimse/pdu-types.js';
import { DEFAULT_MAX_PENDING_PER_ADDRESS, DEFAULT_PDU_TIMEOUT_MS } from '../../agent/src/dimse/policy.js';
import { chooseTransferSyntax } from '../../agent/src/dimse/sop-classes.js';
import { Status } from '../../agent/src/dimse/store-handler.js';
import { storeFailureStatus } from '../../agent/src/dimse/store-status.js';
import { CONFORMANCE_DOC, withGeneratedSections } from '../../scripts/conformance-tables.js';

const doc = readFileSync(CONFORMANCE_DOC, 'utf8');
const lines = doc.split('\n');
const hex = (n: number) => `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;

/** The table row whose first cell starts with `first`; fails when there is none. */
function row(first: string): string {
  const found = lines.find((l) => l.startsWith(`| ${first}`));
  expect(found, `docs/conformance.md has no table row starting "| ${first}"`).toBeDefined();
  return found!;
}

describe('docs/conformance.md', () => {
  it('has the generated tables the code prints now', () => {
    const current = withGeneratedSections(doc);
    expect(
      current === doc,
      'the generated tables are stale: run `npx tsx scripts/conformance-tables.ts --write` and commit docs/conformance.md',
    ).toBe(true);
  });

  it('names the implementation identity the agent announces', () => {
    expect(doc).toContain(`\`${IMPLEMENTATION_CLASS_UID}\``);
    expect(doc).toContain(`\`${IMPLEMENTATION_VERSION}\``);
  });

  it('gives the defaults agent.json and the pushed settings have', () => {
    const shape = agentConfigSchema.shape;
    const defaults: [string, unknown][] = [
      ['aeTitle', PUSHED_SETTINGS.aeTitle.agentJson.parse(undefined)],
      ['allowedCallingAeTitles', '[]'],
      ['maxAssociations', PUSHED_SETTINGS.maxAssociations.default],
      ['maxPendingPerAddress', shape.maxPendingPerAddress.parse(undefined)],
      ['maxPduLength', shape.maxPduLength.parse(undefined)],
      ['timeouts.artimMs', shape.timeouts.parse(undefined).artimMs],
      ['timeouts.idleMs', shape.timeouts.parse(undefined).idleMs],
      ['timeouts.pduMs', shape.timeouts.parse(undefined).pduMs],
      ['transferSyntaxPolicy', PUSHED_SETTINGS.transferSyntaxPolicy.default],
      ['storageCommitment.maxWaitMinutes', PUSHED_SETTINGS['storageCommitment.maxWaitMinutes'].default],
      ['userIdentity', '{ "require": "none" }'],
    ];
    for (const [name, value] of defaults) expect(row(`\`${name}\``)).toContain(`| \`${String(value)}\``);
    expect(row('`port`, `host`')).toContain(
      `| \`${PUSHED_SETTINGS.port.default}\`, \`${shape.host.parse(undefined)}\``,
    );
    expect(shape.maxPendingPerAddress.parse(undefined)).toBe(DEFAULT_MAX_PENDING_PER_ADDRESS);
    expect(shape.timeouts.parse(undefined).pduMs).toBe(DEFAULT_PDU_TIMEOUT_MS);
    expect(row('A-ASSOCIATE-RQ and other non-data PDUs')).toContain(`${MAX_ASSOCIATE_RQ_BYTES / 1024} KiB`);
    expect(doc).toContain(`over ${MAX_COMMITMENT_DATASET_BYTES / (1 << 20)} MiB`);
    expect(doc).toContain(`to the ${ERROR_COMMENT_MAX} characters LO allows`);
  });

  it('lists every C-STORE failure status the agent answers', () => {
    const statuses = [
      Status.Success,
      storeFailureStatus('spool.out_of_space'),
      storeFailureStatus('spool.io_error'),
      storeFailureStatus('dicom.dataset_mismatch'),
      storeFailureStatus('dicom.dataset_malformed'),
      storeFailureStatus('dicom.dataset_unreadable'),
      Status.SopClassNotSupported,
      Status.UnrecognizedOperation,
    ];
    for (const s of statuses) row(`${hex(s)} |`);
    expect(row(`${hex(storeFailureStatus('spool.out_of_space'))} |`)).toContain('spool.out_of_space');
    expect(row(`${hex(storeFailureStatus('spool.io_error'))} |`)).toContain('spool.io_error');
    expect(row(`${hex(storeFailureStatus('dicom.dataset_mismatch'))} |`)).toContain('dicom.dataset_mismatch');
    expect(row(`${hex(storeFailureStatus('dicom.dataset_malformed'))} |`)).toContain(
      'dicom.dataset_malformed',
    );
    expect(row(`${hex(storeFailureStatus('dicom.dataset_unreadable'))} |`)).toContain(
      'dicom.dataset_unreadable',
    );
  });

  it('lists every N-ACTION status and failure reason of storage commitment', () => {
    for (const s of Object.values(NActionStatus)) row(hex(s));
    expect(row(hex(NActionStatus.InvalidArgumentValue))).toContain('dicom.commitment_invalid');
    expect(ERROR_CODES['dicom.commitment_invalid'].dimse).toBe(NActionStatus.InvalidArgumentValue);
    for (const r of [FailureReason.NoSuchObjectInstance, FailureReason.ProcessingFailure])
      expect(doc).toContain(`| ${hex(r)} `);
  });

  it('shows transfer-syntax policy examples that chooseTransferSyntax agrees with', () => {
    const names: Record<string, string> = {
      ILE: TS.ImplicitVRLittleEndian,
      ELE: TS.ExplicitVRLittleEndian,
      EBE: TS.ExplicitVRBigEndian,
      'Deflated ELE': TS.DeflatedExplicitVRLittleEndian,
      'RLE Lossless': '1.2.840.10008.1.2.5',
      'JPEG Baseline': '1.2.840.10008.1.2.4.50',
    };
    const uidOf = (cell: string) => {
      const name = cell.replace(/\(.*\)$/, '').trim();
      const uid = /^`([0-9.]+)`$/.exec(name)?.[1] ?? names[name];
      expect(uid, `unknown transfer syntax "${name}" in the policy examples`).toBeDefined();
      return uid!;
    };
    const start = lines.findIndex((l) => l.startsWith('| Proposed, in order |'));
    expect(start).toBeGreaterThan(0);
    const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
    const examples = lines.slice(start + 2, end);
    expect(examples.length).toBeGreaterThanOrEqual(5);
    for (const line of examples) {
      const [proposedCell, ...answers] = line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim());
      const proposed = proposedCell!
        .replace(/\s*\(.*\)$/, '')
        .split(', ')
        .map(uidOf);
      const policies = ['as-proposed', 'prefer-uncompressed', 'prefer-compressed'] as const;
      policies.forEach((policy, i) => {
        const answer = answers[i]!;
        const expected = answer.startsWith('refused') ? undefined : uidOf(answer);
        expect(chooseTransferSyntax(proposed, { transferSyntaxPolicy: policy }), `${line} (${policy})`).toBe(
          expected,
        );
      });
    }
  });
});
