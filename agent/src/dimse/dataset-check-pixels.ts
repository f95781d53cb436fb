/**
 * The Image Pixel attributes the structure check needs to know how long native Pixel Data must be.
 * Only top-level values are kept (an Icon Image Sequence item has its own), each a few bytes.
 */
export const ImageTag = {
  SamplesPerPixel: 0x00280002,
  PhotometricInterpretation: 0x00280004,
  NumberOfFrames: 0x00280008,
  Rows: 0x00280010,
  Columns: 0x00280011,
  BitsAllocated: 0x00280100,
} as const;

/** Longer values are not what these attributes hold (US is 2 bytes, IS 12, CS 16). */
export const MAX_IMAGE_VALUE_BYTES = 16;

const IMAGE_TAGS: ReadonlySet<number> = new Set(Object.values(ImageTag));

export function isImageTag(tag: number): boolean {
  return tag >>> 16 === 0x0028 && IMAGE_TAGS.has(tag);
}

export class ImageAttributes {
  private rows: number | undefined;
  private columns: number | undefined;
  private samples: number | undefined;
  private bitsAllocated: number | undefined;
  /** undefined: absent (one frame); NaN: present but not a number, so the length is not judged. */
  private frames: number | undefined;
  private ybr422 = false;

  /** Takes one value as received (`le`: its byte order, for US). */
  set(tag: number, value: Buffer, le: boolean): void {
    const us = value.length >= 2 ? (le ? value.readUInt16LE(0) : value.readUInt16BE(0)) : undefined;
    switch (tag) {
      case ImageTag.Rows:
        this.rows = us;
        break;
      case ImageTag.Columns:
        this.columns = us;
        break;
      case ImageTag.SamplesPerPixel:
        this.samples = us;
        break;
      case ImageTag.BitsAllocated:
        this.bitsAllocated = us;
        break;
      case ImageTag.NumberOfFrames: {
        const text = value.toString('latin1').replace(/[\0 ]/g, '');
        this.frames = text === '' ? undefined : /^\+?\d+$/.test(text) ? Number(text) : Number.NaN;
        break;
      }
      case ImageTag.PhotometricInterpretation: {
        const text = value.toString('latin1').replace(/[\0 ]/g, '');
        this.ybr422 = text === 'YBR_FULL_422' || text === 'YBR_PARTIAL_422';
        break;
      }
    }
  }

  /**
   * The least number of bytes native Pixel Data must hold (PS3.5 8.1.1; pydicom's
   * get_expected_length), rounded up to even; undefined when the attributes do not say.
   */
  expectedPixelBytes(): number | undefined {
    const { rows, columns, bitsAllocated } = this;
    if (rows === undefined || columns === undefined || bitsAllocated === undefined) return undefined;
    const frames = this.frames ?? 1;
    if (Number.isNaN(frames)) return undefined;
    let length = rows * columns * (this.samples ?? 1) * frames;
    if (bitsAllocated === 1) length = Math.ceil(length / 8);
    else if (bitsAllocated % 8 === 0) length *= bitsAllocated / 8;
    else return undefined;
    // 4:2:2 keeps two luminance samples per chrominance pair: two thirds of the three samples.
    if (this.ybr422) length = Math.floor(length / 3) * 2;
    return length + (length % 2);
  }

  /** Figures for a log line (none is patient data). */
  describe(): Record<string, number | boolean | undefined> {
    return {
      rows: this.rows,
      columns: this.columns,
      samplesPerPixel: this.samples,
      bitsAllocated: this.bitsAllocated,
      numberOfFrames: this.frames,
      ybr422: this.ybr422 || undefined,
    };
  }
}
