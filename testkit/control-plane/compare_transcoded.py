"""Checks transcoded instances with pydicom, an independent reader (the control plane writes them).

argv[1] is a JSON list of {"original", "transcoded", "reference"?, "photometric"?}. For each pair:
the transcoded file is Explicit VR Little Endian; every element of the original other than Pixel Data
(and Photometric Interpretation, when "photometric" names its new value) is in it with an equal value,
nested sequences included, and nothing else is; its pixels (pydicom's pixel_array) equal those of
"reference" (a native twin, or a DCMTK decompression) or else of the original. Prints a JSON list of
problems, empty when all agree.
"""
import json
import sys
import warnings

import numpy
import pydicom

warnings.simplefilter("ignore")
ELE = "1.2.840.10008.1.2.1"
PIXEL_DATA = 0x7FE00010
# Only meaningful while the pixel data is encapsulated.
ENCAPSULATION_ONLY = {0x7FE00001, 0x7FE00002}


def compare(a, b, path, skip):
    problems = []
    for el in a:
        if el.tag in skip or el.tag in ENCAPSULATION_ONLY:
            continue
        where = f"{path}{el.tag}"
        if el.tag not in b:
            problems.append(f"{where} missing")
            continue
        other = b[el.tag]
        if el.VR == "SQ":
            if other.VR != "SQ" or len(el.value) != len(other.value):
                problems.append(f"{where} sequence differs")
                continue
            for i, (x, y) in enumerate(zip(el.value, other.value)):
                problems += compare(x, y, f"{where}[{i}].", set())
        elif el.value != other.value:
            problems.append(f"{where} {el.VR}->{other.VR}: {str(el.value)[:60]!r} != {str(other.value)[:60]!r}")
    for el in b:
        if el.tag not in a and el.tag not in skip:
            problems.append(f"{path}{el.tag} added")
    return problems


def check(case):
    original = pydicom.dcmread(case["original"])
    out = pydicom.dcmread(case["transcoded"])
    name = case["original"].rsplit("/", 1)[-1]
    problems = []
    if out.file_meta.TransferSyntaxUID != ELE:
        problems.append(f"syntax {out.file_meta.TransferSyntaxUID}")
    skip = {PIXEL_DATA}
    if case.get("photometric"):
        skip.add(0x00280004)
        if out.PhotometricInterpretation != case["photometric"]:
            problems.append(f"photometric {out.PhotometricInterpretation}")
    problems += compare(original, out, "", skip)
    if "PixelData" in original:
        reference = pydicom.dcmread(case["reference"]) if case.get("reference") else original
        if case.get("pixels", True):
            want = reference.pixel_array
            got = out.pixel_array
            if want.shape != got.shape or not numpy.array_equal(want, got):
                problems.append(f"pixels differ: {want.shape} {want.dtype} vs {got.shape} {got.dtype}")
        else:
            rows, cols, spp = out.Rows, out.Columns, out.SamplesPerPixel
            want = rows * cols * spp * (out.BitsAllocated // 8) * int(out.get("NumberOfFrames", 1) or 1)
            if len(out.PixelData) not in (want, want + 1):
                problems.append(f"pixel data length {len(out.PixelData)} for {want}")
    return [f"{name}: {p}" for p in problems]


problems = []
for case in json.loads(sys.argv[1]):
    try:
        problems += check(case)
    except Exception as err:  # noqa: BLE001 - reported as a problem of that file
        problems.append(f"{case['original']}: {type(err).__name__}: {err}")
print(json.dumps(problems))
