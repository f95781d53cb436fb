import { z } from 'zod';

/**
 * The upload round-trip diagnostic: the control plane hands the agent a presigned single-PUT URL for
 * a throwaway object under the gateway's own diagnostics prefix; the agent PUTs `bytes` random bytes
 * and asks the control plane to read them back and compare the SHA-256.
 */
export const UPLOAD_TEST_PATH = '/api/v1/agents/diagnostics/upload-test';
export const uploadTestVerifyPath = (testId: string) => `${UPLOAD_TEST_PATH}/${testId}/verify`;

export const uploadTestStartResponseSchema = z.object({
  testId: z.uuid(),
  url: z.string().min(1),
  bytes: z.number().int().min(1),
  expiresAt: z.string(),
});
export type UploadTestStartResponse = z.infer<typeof uploadTestStartResponseSchema>;

export const uploadTestVerifyRequestSchema = z
  .object({ sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256') })
  .strict();
export type UploadTestVerifyRequest = z.infer<typeof uploadTestVerifyRequestSchema>;

export const uploadTestVerifyResponseSchema = z.object({
  /** The stored object has the size and SHA-256 the agent sent. */
  ok: z.boolean(),
  /** Bytes the store held. */
  bytes: z.number().int().min(0),
  /** SHA-256 of what the store held (hex). */
  sha256: z.string(),
});
export type UploadTestVerifyResponse = z.infer<typeof uploadTestVerifyResponseSchema>;
