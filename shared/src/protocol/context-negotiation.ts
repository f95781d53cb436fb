import { z } from 'zod';
import { isValidUid } from '../dicom/uid.js';

/**
 * How the gateway picks one transfer syntax from those a presentation context proposes (the settings
 * `transferSyntaxPolicy`, `privateTransferSyntaxes` and `privateSopClasses`, applied by the agent's
 * dimse/sop-classes.ts). `as-proposed` takes the first one we accept in the proposer's order, as
 * pynetdicom does, so a sender never has to decompress or recompress what it holds.
 */
export const TRANSFER_SYNTAX_POLICIES = ['as-proposed', 'prefer-uncompressed', 'prefer-compressed'] as const;
export type TransferSyntaxPolicy = (typeof TRANSFER_SYNTAX_POLICIES)[number];

export const transferSyntaxPolicySchema = z.enum(TRANSFER_SYNTAX_POLICIES, {
  error: `must be one of ${TRANSFER_SYNTAX_POLICIES.map((p) => `"${p}"`).join(', ')}`,
});

const DICOM_ROOT = '1.2.840.10008.';
export const MAX_PRIVATE_UIDS = 1000;

/** Why `value` cannot be listed as a private UID, or undefined. */
export function privateUidProblem(value: string): string | undefined {
  if (!isValidUid(value))
    return `"${value}" is not a UID (numbers separated by dots, no leading zeros, at most 64 characters)`;
  if (value.startsWith(DICOM_ROOT))
    return `"${value}" is under the DICOM root 1.2.840.10008, so it is not a private UID`;
  return undefined;
}

/** A list of private UIDs an admin adds to what the gateway accepts (surrounding spaces dropped). */
export const privateUidListSchema = z
  .array(
    z
      .string()
      .trim()
      .superRefine((v, ctx) => {
        const problem = privateUidProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
  )
  .max(MAX_PRIVATE_UIDS, `must list at most ${MAX_PRIVATE_UIDS} UIDs`);
