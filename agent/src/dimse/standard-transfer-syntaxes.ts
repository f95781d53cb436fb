/**
 * Every transfer syntax of PS3.6 Table A-1 (2026d), retired ones included: a sender may propose only
 * these (or one the admin lists as private), because we store its bytes as sent and must be able to
 * say what they are. Checked against pydicom's _uid_dict.py (2024d) and DCMTK's dcuid.h (2026).
 * `kind` is what the transfer-syntax policy ranks by: `compressed` (image or video compression, or
 * deflate), `uncompressed` (native pixel data), `other` (pixel data referenced or not DICOM-encoded).
 */
export type TransferSyntaxKind = 'uncompressed' | 'compressed' | 'other';

const ROWS: readonly (readonly [uid: string, kind: TransferSyntaxKind, name: string])[] = [
  ['1.2.840.10008.1.2', 'uncompressed', 'Implicit VR Little Endian'],
  ['1.2.840.10008.1.2.1', 'uncompressed', 'Explicit VR Little Endian'],
  ['1.2.840.10008.1.2.1.98', 'uncompressed', 'Encapsulated Uncompressed Explicit VR Little Endian'],
  ['1.2.840.10008.1.2.1.99', 'compressed', 'Deflated Explicit VR Little Endian'],
  ['1.2.840.10008.1.2.2', 'uncompressed', 'Explicit VR Big Endian (Retired)'],
  ['1.2.840.10008.1.2.4.50', 'compressed', 'JPEG Baseline (Process 1)'],
  ['1.2.840.10008.1.2.4.51', 'compressed', 'JPEG Extended (Process 2 and 4)'],
  ['1.2.840.10008.1.2.4.52', 'compressed', 'JPEG Extended (Process 3 and 5) (Retired)'],
  [
    '1.2.840.10008.1.2.4.53',
    'compressed',
    'JPEG Spectral Selection, Non-Hierarchical (Process 6 and 8) (Retired)',
  ],
  [
    '1.2.840.10008.1.2.4.54',
    'compressed',
    'JPEG Spectral Selection, Non-Hierarchical (Process 7 and 9) (Retired)',
  ],
  [
    '1.2.840.10008.1.2.4.55',
    'compressed',
    'JPEG Full Progression, Non-Hierarchical (Process 10 and 12) (Retired)',
  ],
  [
    '1.2.840.10008.1.2.4.56',
    'compressed',
    'JPEG Full Progression, Non-Hierarchical (Process 11 and 13) (Retired)',
  ],
  ['1.2.840.10008.1.2.4.57', 'compressed', 'JPEG Lossless, Non-Hierarchical (Process 14)'],
  ['1.2.840.10008.1.2.4.58', 'compressed', 'JPEG Lossless, Non-Hierarchical (Process 15) (Retired)'],
  ['1.2.840.10008.1.2.4.59', 'compressed', 'JPEG Extended, Hierarchical (Process 16 and 18) (Retired)'],
  ['1.2.840.10008.1.2.4.60', 'compressed', 'JPEG Extended, Hierarchical (Process 17 and 19) (Retired)'],
  [
    '1.2.840.10008.1.2.4.61',
    'compressed',
    'JPEG Spectral Selection, Hierarchical (Process 20 and 22) (Retired)',
  ],
  [
    '1.2.840.10008.1.2.4.62',
    'compressed',
    'JPEG Spectral Selection, Hierarchical (Process 21 and 23) (Retired)',
  ],
  [
    '1.2.840.10008.1.2.4.63',
    'compressed',
    'JPEG Full Progression, Hierarchical (Process 24 and 26) (Retired)',
  ],
  [
    '1.2.840.10008.1.2.4.64',
    'compressed',
    'JPEG Full Progression, Hierarchical (Process 25 and 27) (Retired)',
  ],
  ['1.2.840.10008.1.2.4.65', 'compressed', 'JPEG Lossless, Hierarchical (Process 28) (Retired)'],
  ['1.2.840.10008.1.2.4.66', 'compressed', 'JPEG Lossless, Hierarchical (Process 29) (Retired)'],
  [
    '1.2.840.10008.1.2.4.70',
    'compressed',
    'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
  ],
  ['1.2.840.10008.1.2.4.80', 'compressed', 'JPEG-LS Lossless Image Compression'],
  ['1.2.840.10008.1.2.4.81', 'compressed', 'JPEG-LS Lossy (Near-Lossless) Image Compression'],
  ['1.2.840.10008.1.2.4.90', 'compressed', 'JPEG 2000 Image Compression (Lossless Only)'],
  ['1.2.840.10008.1.2.4.91', 'compressed', 'JPEG 2000 Image Compression'],
  [
    '1.2.840.10008.1.2.4.92',
    'compressed',
    'JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)',
  ],
  ['1.2.840.10008.1.2.4.93', 'compressed', 'JPEG 2000 Part 2 Multi-component Image Compression'],
  ['1.2.840.10008.1.2.4.94', 'other', 'JPIP Referenced'],
  ['1.2.840.10008.1.2.4.95', 'compressed', 'JPIP Referenced Deflate'],
  ['1.2.840.10008.1.2.4.100', 'compressed', 'MPEG2 Main Profile / Main Level'],
  ['1.2.840.10008.1.2.4.100.1', 'compressed', 'Fragmentable MPEG2 Main Profile / Main Level'],
  ['1.2.840.10008.1.2.4.101', 'compressed', 'MPEG2 Main Profile / High Level'],
  ['1.2.840.10008.1.2.4.101.1', 'compressed', 'Fragmentable MPEG2 Main Profile / High Level'],
  ['1.2.840.10008.1.2.4.102', 'compressed', 'MPEG-4 AVC/H.264 High Profile / Level 4.1'],
  ['1.2.840.10008.1.2.4.102.1', 'compressed', 'Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.1'],
  ['1.2.840.10008.1.2.4.103', 'compressed', 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1'],
  [
    '1.2.840.10008.1.2.4.103.1',
    'compressed',
    'Fragmentable MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1',
  ],
  ['1.2.840.10008.1.2.4.104', 'compressed', 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video'],
  [
    '1.2.840.10008.1.2.4.104.1',
    'compressed',
    'Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video',
  ],
  ['1.2.840.10008.1.2.4.105', 'compressed', 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video'],
  [
    '1.2.840.10008.1.2.4.105.1',
    'compressed',
    'Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video',
  ],
  ['1.2.840.10008.1.2.4.106', 'compressed', 'MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2'],
  [
    '1.2.840.10008.1.2.4.106.1',
    'compressed',
    'Fragmentable MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2',
  ],
  ['1.2.840.10008.1.2.4.107', 'compressed', 'HEVC/H.265 Main Profile / Level 5.1'],
  ['1.2.840.10008.1.2.4.108', 'compressed', 'HEVC/H.265 Main 10 Profile / Level 5.1'],
  ['1.2.840.10008.1.2.4.110', 'compressed', 'JPEG XL Lossless'],
  ['1.2.840.10008.1.2.4.111', 'compressed', 'JPEG XL JPEG Recompression'],
  ['1.2.840.10008.1.2.4.112', 'compressed', 'JPEG XL'],
  ['1.2.840.10008.1.2.4.201', 'compressed', 'High-Throughput JPEG 2000 Image Compression (Lossless Only)'],
  [
    '1.2.840.10008.1.2.4.202',
    'compressed',
    'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)',
  ],
  ['1.2.840.10008.1.2.4.203', 'compressed', 'High-Throughput JPEG 2000 Image Compression'],
  ['1.2.840.10008.1.2.4.204', 'other', 'JPIP HTJ2K Referenced'],
  ['1.2.840.10008.1.2.4.205', 'compressed', 'JPIP HTJ2K Referenced Deflate'],
  ['1.2.840.10008.1.2.5', 'compressed', 'RLE Lossless'],
  ['1.2.840.10008.1.2.6.1', 'other', 'RFC 2557 MIME encapsulation (Retired)'],
  ['1.2.840.10008.1.2.6.2', 'other', 'XML Encoding (Retired)'],
  ['1.2.840.10008.1.2.7.1', 'uncompressed', 'SMPTE ST 2110-20 Uncompressed Progressive Active Video'],
  ['1.2.840.10008.1.2.7.2', 'uncompressed', 'SMPTE ST 2110-20 Uncompressed Interlaced Active Video'],
  ['1.2.840.10008.1.2.7.3', 'uncompressed', 'SMPTE ST 2110-30 PCM Digital Audio'],
  ['1.2.840.10008.1.2.8.1', 'compressed', 'Deflated Image Frame Compression'],
  ['1.2.840.10008.1.20', 'uncompressed', 'Papyrus 3 Implicit VR Little Endian (Retired)'],
];

export const STANDARD_TRANSFER_SYNTAXES: ReadonlyMap<string, { kind: TransferSyntaxKind; name: string }> =
  new Map(ROWS.map(([uid, kind, name]) => [uid, { kind, name }]));
