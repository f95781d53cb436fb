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
export * from './image-frames.js';
export {
  bandBytes,
  decodeJpegLsFrame,
  encodeJpegLsFrame,
  encodeJpegLsVerified,
  initJpegLs,
  JPEGLS_HEADER_BYTES,
  jpegLsReady,
  loadJpegLs,
  type PixelBand,
  provideJpegLsWasm,
} from './jpegls.js';
export { recipientKeyThumbprint } from './key-thumbprint.js';
export * from './keys.js';
export {
  type DataFrameCodec,
  frameCodec,
  frameData,
  type ObjectCompression,
  type OpenedPart,
  openObject,
  openSealedFrame,
  parseHeader,
  readableCompression,
  type SealedFrameSpan,
} from './open.js';
export { ObjectSealer } from './seal.js';
export { type TransportCoding, TransportTally } from './transport-coding.js';
