/**
 * Ferry object format, version 1. One format for the spool and the wire, so shipping is a copy.
 *
 *   magic "FERRYOBJ" | u8 version | u32 BE header length | header JSON (UTF-8) | frame*
 *   frame = u8 flags | u32 BE plaintext length | AES-256-GCM ciphertext | 16-byte tag
 *
 * Every frame is authenticated with AAD = SHA-256(header bytes) | u64 BE frame index | flags, and a
 * nonce derived from its index, so a dropped, reordered or spliced frame fails to open, and the FINAL
 * flag on the last frame detects truncation. The first frame is the MANIFEST (JSON), the rest data.
 *
 * `compression` applies to DATA frames only, never to the manifest. With 'zstd' each DATA frame's
 * plaintext is one independent zstd frame of at most 1 MiB of raw bytes (see compression.ts); an
 * empty plaintext is an empty data frame either way. With 'image' each DATA frame's plaintext names
 * its own codec (raw, zstd or JPEG-LS for a band of native pixels; see image-frames.ts). 'gzip' and
 * 'br' are reserved: no writer makes them and openObject refuses them.
 */
import { z } from 'zod';

export const OBJECT_MAGIC = Buffer.from('FERRYOBJ', 'ascii');
export const OBJECT_FORMAT_VERSION = 1;
export const PREAMBLE_BYTES = OBJECT_MAGIC.length + 1 + 4;
export const FRAME_HEADER_BYTES = 5;
export const TAG_BYTES = 16;
export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export const FrameFlag = { FINAL: 0x01, MANIFEST: 0x02 } as const;

export const objectHeaderSchema = z.object({
  v: z.literal(1),
  objectId: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  enc: z.literal('A256GCM'),
  kdf: z.literal('HKDF-SHA256'),
  /** The epoch data key, wrapped for the control plane as a JWE (ECDH-ES+A256KW) in compact form. */
  wrappedKey: z.string().min(1),
  compression: z.enum(['none', 'gzip', 'br', 'zstd', 'image']),
  contentType: z.literal('application/dicom'),
  createdAt: z.string(),
});
export type ObjectHeader = z.infer<typeof objectHeaderSchema>;
