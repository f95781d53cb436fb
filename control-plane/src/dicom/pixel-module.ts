/** Pixel module attributes met at the top level, which the pixel data's encoding depends on. */
export interface PixelModule {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  planarConfiguration: number;
  photometricInterpretation: string;
  numberOfFrames: number;
}

export function newPixelModule(): PixelModule {
  return {
    rows: 0,
    columns: 0,
    samplesPerPixel: 1,
    bitsAllocated: 0,
    bitsStored: 0,
    pixelRepresentation: 0,
    planarConfiguration: 0,
    photometricInterpretation: '',
    numberOfFrames: 1,
  };
}

/** Records a top-level pixel module attribute from its little endian value. */
export function notePixelAttribute(px: PixelModule, tag: number, v: Buffer): void {
  const us = () => (v.length >= 2 ? v.readUInt16LE(0) : 0);
  const text = () =>
    v
      .toString('latin1')
      .replace(/[\0 ]+$/, '')
      .trim();
  switch (tag) {
    case 0x00280002:
      px.samplesPerPixel = us();
      break;
    case 0x00280004:
      px.photometricInterpretation = text();
      break;
    case 0x00280006:
      px.planarConfiguration = us();
      break;
    case 0x00280008:
      px.numberOfFrames = Math.max(1, Number.parseInt(text(), 10) || 1);
      break;
    case 0x00280010:
      px.rows = us();
      break;
    case 0x00280011:
      px.columns = us();
      break;
    case 0x00280100:
      px.bitsAllocated = us();
      break;
    case 0x00280101:
      px.bitsStored = us();
      break;
    case 0x00280103:
      px.pixelRepresentation = us();
      break;
  }
}
