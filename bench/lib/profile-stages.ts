// Which pipeline stage a CPU profile sample belongs to, by the functions and files on its stack. Async
// stacks stop at the event loop (a continuation after `await` has no caller above it), so rules also
// name the leaf-side frames a stage is known by (Node's fs streams, sockets, crypto). Frames are
// "functionName@file" with the repository prefix cut (e.g. "copyExactly@control-plane/dist/storage/
// fs-blob-store.js", "update@node:internal/crypto/hash", "writeBuffers@" for a native leaf).
// Stage names change when the code does: a growing "other" row, with its top frames in the report, is
// the sign a rule is missing.

export interface StageRule {
  stage: string;
  /** Tested on each frame from the leaf up; the innermost frame any rule matches decides. */
  frame: RegExp;
  /** When given, some frame at or above the matching one must match this too. */
  within?: RegExp;
  /**
   * Only when no other rule matches any frame of the stack: for Node's own leaf frames (sockets, fs
   * streams) that stand alone after an await but sit under a known caller when called directly.
   */
  fallback?: boolean;
}

/** Samples that count as idle, not as CPU used. */
export const IDLE_STAGE = 'idle';
export const OUTSIDE_STAGE = 'outside the measured window (startup, shutdown)';
export const OTHER_STAGE = 'other';

const HASH = /@node:internal\/crypto\/hash$/;
const CIPHER = /@node:internal\/crypto\/cipher$/;
const NODE_NET = /@node:(net|internal\/stream_base_commons|_http_\w+|https?)$/;

const COMMON_HEAD: StageRule[] = [
  { stage: 'gc', frame: /^\(garbage collector\)@/ },
  { stage: IDLE_STAGE, frame: /^\(idle\)@/ },
  { stage: 'startup (module load)', frame: /@node:internal\/(modules|bootstrap)\// },
];

const COMMON_TAIL: StageRule[] = [{ stage: 'log', frame: /node_modules\/(pino|sonic-boom|thread-stream)/ }];

/** Agent: receive (DIMSE), hash, compress, seal, durable write, upload. */
export const AGENT_STAGES: StageRule[] = [
  ...COMMON_HEAD,
  { stage: 'hash', frame: HASH },
  { stage: 'compress', frame: /compression\.js$|zstd|^(trialCompress|compress)@agent\// },
  { stage: 'seal', frame: CIPHER },
  { stage: 'seal', frame: /crypto\/seal\.js$/ },
  // The header is parsed as the instance arrives, before Success.
  { stage: 'receive (dimse)', frame: /agent\/dist\/spool\/header-reader\.js$|(agent|shared)\/dist\/dicom\// },
  { stage: 'durable write', frame: /agent\/dist\/spool\/|agent\/dist\/data-dir\.js$|^(fsync|fdatasync)@/ },
  { stage: 'upload (read spool)', frame: /@node:internal\/fs\/streams$/, fallback: true },
  // After an await the spool's own frames are gone: its writes and syncs show as fs/promises alone.
  {
    stage: 'durable write',
    frame: /^(write|writev|writeFile|sync|datasync)@node:internal\/fs\/promises$/,
    fallback: true,
  },
  {
    stage: 'upload (http)',
    frame: /agent\/dist\/(uploader|cloud)\/|node_modules\/undici\/|@node:internal\/deps\/undici/,
  },
  // Outgoing socket writes are mostly upload bodies; incoming reads mostly DICOM from the sender.
  { stage: 'upload (http)', frame: /^(Socket\._write\w*|writeGeneric|writevGeneric)@/, fallback: true },
  { stage: 'receive (dimse)', frame: /^onStreamRead@/, fallback: true },
  { stage: 'receive (dimse)', frame: /agent\/dist\/dimse\/|node_modules\/dicom-parser\// },
  { stage: 'control channel', frame: /agent\/dist\/live-config\/|node_modules\/ws\// },
  ...COMMON_TAIL,
];

const VERIFY =
  /control-plane\/dist\/(ingest\/(verify-object|hashing-reader|opened)|storage\/open-stored-object)\.js$|shared\/dist\/crypto\/open\.js$/;
const PUT =
  /^(receivePart\w*|copyExactly|writeAll)@|control-plane\/dist\/(routes\/blob-parts|services\/receive-part-upload|storage\/part-\w+)\.js$/;

/**
 * Control plane: PUT write (a part's body arriving and written), cloud write (completing an object),
 * verify (read back, hash, decrypt, decompress, header parse), index/db, http.
 */
export const CONTROL_PLANE_STAGES: StageRule[] = [
  ...COMMON_HEAD,
  { stage: 'PUT write', frame: HASH, within: PUT },
  { stage: 'verify: hash', frame: HASH },
  { stage: 'verify: decompress', frame: /^decompress\w*@|zstd/ },
  { stage: 'verify: decrypt', frame: CIPHER },
  { stage: 'verify: decrypt', frame: /shared\/dist\/crypto\/open\.js$/ },
  {
    stage: 'verify: header parse',
    frame: /node_modules\/dcmjs\/|control-plane\/dist\/dicom\/|^(parsedHeader|parseDicomHeader)@/,
    within: VERIFY,
  },
  { stage: 'PUT write', frame: PUT },
  // A part's body reaching the route through Node's stream adapters.
  { stage: 'PUT write', frame: /@node:internal\/webstreams\/adapters$|^parserOnBody@/, fallback: true },
  { stage: 'verify: read back', frame: VERIFY },
  {
    stage: 'cloud write',
    frame:
      /control-plane\/dist\/(storage\/(fs|s3)-blob-store|ingest\/(assemble-upload|upload-store))\.js$|node_modules\/@(aws-sdk|smithy)\//,
  },
  { stage: 'verify: read back', frame: /@node:internal\/fs\/streams$/, fallback: true },
  {
    stage: 'index/db',
    frame:
      /control-plane\/dist\/(db|ingest)\/|node_modules\/(drizzle-orm|pg|pg-protocol|pg-pool|@electric-sql\/pglite)\//,
  },
  { stage: 'http', frame: /node_modules\/(hono|@hono|zod)\/|control-plane\/dist\/(routes|auth|services)\// },
  { stage: 'http', frame: NODE_NET, fallback: true },
  ...COMMON_TAIL,
];
