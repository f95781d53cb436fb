import dicomParser from 'dicom-parser';
import { describe, expect, it } from 'vitest';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from './implementation.js';
import { part10Header } from './part10.js';

describe('part10Header', () => {
  it.each([
    ['odd-length UIDs', '1.2.840.10008.5.1.4.1.1.2', '1.2.3.4.5', '1.2.840.10008.1.2.1'],
    ['even-length UIDs', '1.2.840.10008.5.1.4.1.1.4', '1.2.3.45', '1.2.840.10008.1.2'],
  ])('writes a File Meta Information a DICOM parser reads back (%s)', (_, sopClass, sopInstance, ts) => {
    const header = part10Header(sopClass, sopInstance, ts);
    expect(header.subarray(0, 128).every((b) => b === 0)).toBe(true);
    expect(header.toString('latin1', 128, 132)).toBe('DICM');
    const ds = dicomParser.readPart10Header(new Uint8Array(header));
    expect(ds.uint32('x00020000')).toBe(header.length - 144);
    expect([
      ...header.subarray(ds.elements.x00020001!.dataOffset, ds.elements.x00020001!.dataOffset + 2),
    ]).toEqual([0, 1]);
    const ui = (tag: string) => ds.string(tag);
    expect(ui('x00020002')).toBe(sopClass);
    expect(ui('x00020003')).toBe(sopInstance);
    expect(ui('x00020010')).toBe(ts);
    expect(ui('x00020012')).toBe(IMPLEMENTATION_CLASS_UID);
    expect(ui('x00020013')).toBe(IMPLEMENTATION_VERSION);
    // Every value has an even length; UI values are padded with NUL, never a space.
    for (const el of Object.values(ds.elements)) expect(el.length % 2).toBe(0);
    const padded = ds.elements.x00020003!;
    if (sopInstance.length % 2 === 1) expect(header[padded.dataOffset + padded.length - 1]).toBe(0);
  });
});
