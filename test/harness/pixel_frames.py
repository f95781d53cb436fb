#!/usr/bin/python3
"""What a DICOMweb server must answer for the frames and bulk data of Part-10 files, read with pydicom.

Run with /usr/bin/python3 (Debian python3-pydicom and numpy).

  pixel_frames.py FILE...   prints one JSON object per file, as a JSON array on stdout

For each file: its transfer syntax, whether its Pixel Data is encapsulated, its number of frames, the
SHA-256 and length of the Pixel Data value as stored, and of the frames a viewer test asks for (every
frame of a single-frame instance, the first and last of a multi-frame one):
- native: the frame's slice of the Pixel Data value as stored (`sha256`), and the same slice in little
  endian byte order (`leSha256`: differs only for a big endian dataset of more than 8 bits allocated);
- encapsulated: the frame's fragments joined, as PS3.5 A.4 divides them (Basic Offset Table, one
  fragment per frame, or the JPEG end-of-image marker), which is what pydicom's generate_pixel_data does.
It also lists the top-level elements with a binary VR and a non-empty value (`binaryTags`), which a
server's metadata must give as InlineBinary or BulkDataURI, never drop.
"""

import hashlib
import json
import re
import sys

import numpy as np
import pydicom
from pydicom.encaps import generate_pixel_data, generate_pixel_data_fragment, get_frame_offsets
from pydicom.filebase import DicomBytesIO

BINARY_VRS = {'OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'UN', 'OB or OW', 'US or OW', 'US or SS or OW'}


def digest(data):
    return {'sha256': hashlib.sha256(data).hexdigest(), 'length': len(data)}


def little_endian(data, bits_allocated, big_endian):
    if not big_endian or bits_allocated <= 8:
        return data
    dtype = {16: '>u2', 32: '>u4', 64: '>u8'}[bits_allocated]
    whole = len(data) - len(data) % (bits_allocated // 8)
    return np.frombuffer(data[:whole], dtype=dtype).byteswap().tobytes() + data[whole:]


def fragments(value):
    fp = DicomBytesIO(value)
    fp.is_little_endian = True
    get_frame_offsets(fp)  # reads past the Basic Offset Table
    return b''.join(generate_pixel_data_fragment(fp))


def number_of_frames(ds):
    # Read the value as a viewer's parseInt would: badVR.dcm says '1A'.
    raw = ds.get((0x0028, 0x0008))
    digits = re.match(r'\s*(\d+)', str(raw.value if raw is not None else '') or '')
    return max(1, int(digits.group(1))) if digits else 1


def frame_length(ds):
    samples = ds.Rows * ds.Columns * ds.SamplesPerPixel
    if ds.get('PhotometricInterpretation') == 'YBR_FULL_422':
        samples = samples // 3 * 2  # two luminance samples share one pair of chrominance samples
    return (samples * ds.BitsAllocated + 7) // 8


def describe(path):
    ds = pydicom.dcmread(path)
    syntax = ds.file_meta.TransferSyntaxUID
    out = {
        'file': path,
        'sopInstanceUid': str(ds.SOPInstanceUID),
        'transferSyntax': str(syntax),
        'hasPixelData': 'PixelData' in ds,
        'binaryTags': sorted(
            f'{el.tag:08X}'
            for el in ds
            if el.VR in BINARY_VRS
            and el.tag not in (0x7FE00010, 0xFFFCFFFC)  # Pixel Data below; trailing padding is no value
            and el.value not in (None, b'', [])
        ),
    }
    if 'PixelData' in ds:
        out['binaryTags'] = sorted([*out['binaryTags'], '7FE00010'])
    if not out['hasPixelData']:
        return out
    value = ds.PixelData
    count = number_of_frames(ds)
    wanted = sorted({1, count})
    encapsulated = syntax.is_compressed
    out.update(numberOfFrames=count, encapsulated=encapsulated, pixelData=digest(value))
    frames = {}
    if encapsulated:
        out['fragments'] = digest(fragments(value))
        for number, parts in enumerate(generate_pixel_data(value, count), start=1):
            if number in wanted:
                frames[str(number)] = digest(b''.join(parts))
    else:
        big_endian = not syntax.is_little_endian
        out['pixelDataLe'] = digest(little_endian(value, ds.BitsAllocated, big_endian))
        size = frame_length(ds)
        for number in wanted:
            data = value[(number - 1) * size : number * size]
            frames[str(number)] = {
                **digest(data),
                'leSha256': digest(little_endian(data, ds.BitsAllocated, big_endian))['sha256'],
            }
    out['frames'] = frames
    return out


if __name__ == '__main__':
    json.dump([describe(p) for p in sys.argv[1:]], sys.stdout)
