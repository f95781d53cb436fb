export {
  type CompressedFrame,
  compressFrame,
  compressFrameSync,
  decompressFrame,
  MAX_DECODE_BOUND,
  MAX_RAW_FRAME_BYTES,
  MAX_ZSTD_FRAME_BYTES,
  ZSTD_LEVEL,
  zstdOutputBound,
} from './compression.js';
export * from './format.js';
export { recipientKeyThumbprint } from './key-thumbprint.js';
export * from './keys.js';
export {
  frameData,
  type OpenedPart,
  openObject,
  openSealedFrame,
  parseHeader,
  type SealedFrameSpan,
} from './open.js';
export { ObjectSealer } from './seal.js';
