import { z } from 'zod';

/**
 * Wire contracts of the upload API (agent JWT):
 *
 *   POST /api/v1/agents/uploads           offer a batch of spooled objects; get upload targets back
 *   PUT  <part url>                       the sealed bytes of one part, exactly `length` bytes
 *   PUT  <pack url>                       several small sealed objects back to back (`acceptPacks`)
 *   POST /api/v1/agents/uploads/complete  ask for receipts once every part of an object is sent
 *
 * Part URLs are presigned: S3 URLs for the s3 backend, control-plane URLs signed with HMAC for the fs
 * backend. Either way the agent PUTs bytes with a Content-Length and no other credentials, so the
 * uploader has one code path. The control plane is the source of truth for which parts it holds, so
 * a restarted agent simply offers its objects again and sends only the parts not marked `done`.
 */

export const MAX_OFFER_OBJECTS = 500;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const objectId = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'must be a Ferry object id');

/** One spooled object, as the agent describes it. UIDs, sizes and hashes only: no names. */
export const uploadOfferObjectSchema = z.object({
  objectId,
  sopInstanceUid: z.string().min(1).max(64),
  studyInstanceUid: z.string().min(1).max(64).optional(),
  /** SHA-256 of the Part-10 plaintext, before compression. */
  sha256: sha256Hex,
  plainBytes: z.number().int().nonnegative(),
  /** Size of the sealed object: what is uploaded. */
  objectBytes: z.number().int().positive(),
  receivedAt: z.iso.datetime({ offset: true }),
});
export type UploadOfferObject = z.infer<typeof uploadOfferObjectSchema>;

export const uploadOfferRequestSchema = z.object({
  objects: z.array(uploadOfferObjectSchema).min(1).max(MAX_OFFER_OBJECTS),
  /**
   * The agent can send packs: small objects answered `packed` go up together in one PUT (see
   * `uploadPackSchema`). Absent (an older agent), every object is answered as before; a control plane
   * that does not offer packs ignores it.
   */
  acceptPacks: z.boolean().optional(),
});
export type UploadOfferRequest = z.infer<typeof uploadOfferRequestSchema>;

export const uploadPartSchema = z.object({
  partNumber: z.number().int().min(1),
  offset: z.number().int().nonnegative(),
  length: z.number().int().positive(),
  /** True when the control plane already holds this part: skip it. */
  done: z.boolean(),
  /** Presigned PUT URL; absent when `done`. */
  url: z.string().optional(),
});
export type UploadPart = z.infer<typeof uploadPartSchema>;

/** Proof that the cloud holds an object, verified. Only this lets the agent mark it delivered. */
export const receiptSchema = z.object({
  objectId,
  sopInstanceUid: z.string(),
  sha256: sha256Hex,
  /** SHA-256 of the stored ciphertext, recomputed by the control plane from the blob store. */
  objectSha256: sha256Hex,
  storedAt: z.string(),
  /** True when the group already held this exact instance (same SOP Instance UID and hash). */
  duplicate: z.boolean(),
});
export type Receipt = z.infer<typeof receiptSchema>;

/**
 * A pack: several small objects sent in one PUT to `url` (a control-plane URL, signed with HMAC, on
 * either store), their sealed bytes back to back in `members` order, each byte for byte its object:
 * exactly `length` bytes. The control plane checks each member as it arrives and stores the pack as
 * one blob; each member is then completed on its own, as any object (`uploadId`, `objectSha256`).
 * A member left open (a cut PUT) is offered again, alone or in a new pack.
 */
export const uploadPackSchema = z.object({
  packId: z.uuid(),
  url: z.string(),
  length: z.number().int().positive(),
  members: z
    .array(
      z.object({
        objectId,
        uploadId: z.uuid(),
        offset: z.number().int().nonnegative(),
        length: z.number().int().positive(),
      }),
    )
    .min(1),
  /** The URL stops working at this time; offer again for a fresh one. */
  expiresAt: z.string(),
});
export type UploadPack = z.infer<typeof uploadPackSchema>;

const refusal = z.object({
  objectId,
  status: z.literal('refused'),
  code: z.string(),
  message: z.string(),
});

export const uploadOfferResultSchema = z.discriminatedUnion('status', [
  z.object({ objectId, status: z.literal('stored'), receipt: receiptSchema }),
  z.object({
    objectId,
    status: z.literal('upload'),
    uploadId: z.uuid(),
    partBytes: z.number().int().positive(),
    parts: z.array(uploadPartSchema).min(1),
    /** The part URLs stop working at this time; offer again for fresh ones. */
    expiresAt: z.string(),
  }),
  /** Only when the offer said `acceptPacks`: sent as a member of the pack `packId` (see `packs`). */
  z.object({ objectId, status: z.literal('packed'), uploadId: z.uuid(), packId: z.uuid() }),
  refusal,
]);
export type UploadOfferResult = z.infer<typeof uploadOfferResultSchema>;

export const uploadOfferResponseSchema = z.object({
  objects: z.array(uploadOfferResultSchema),
  /** The packs of the objects answered `packed`; absent when there are none. */
  packs: z.array(uploadPackSchema).optional(),
});
export type UploadOfferResponse = z.infer<typeof uploadOfferResponseSchema>;

export const uploadCompleteRequestSchema = z.object({
  objects: z
    .array(z.object({ objectId, uploadId: z.uuid(), objectSha256: sha256Hex }))
    .min(1)
    .max(MAX_OFFER_OBJECTS),
});
export type UploadCompleteRequest = z.infer<typeof uploadCompleteRequestSchema>;

export const uploadCompleteResultSchema = z.discriminatedUnion('status', [
  z.object({ objectId, status: z.literal('stored'), receipt: receiptSchema }),
  /** Transient: parts missing, hash mismatch after a torn upload, storage down. Offer it again. */
  z.object({ objectId, status: z.literal('retry'), code: z.string(), message: z.string() }),
  refusal,
]);
export type UploadCompleteResult = z.infer<typeof uploadCompleteResultSchema>;

export const uploadCompleteResponseSchema = z.object({ objects: z.array(uploadCompleteResultSchema) });
export type UploadCompleteResponse = z.infer<typeof uploadCompleteResponseSchema>;
