#!/usr/bin/python3
"""What pydicom decodes from the text elements of DICOM files: the reference for Ferry's character
set decoder (shared/src/dicom/charset-*.ts). With no arguments it reads pydicom's own charset_files.

Prints JSON: [{"file": path, "elements": {path: {"vr": vr, "values": [str, ...]}}}], where an
element's path is its tag ("GGGGEEEE"), or "tag/item/tag/..." inside sequences (items from 0), and a
PN value is written as DICOM writes it ("Alphabetic=Ideographic=Phonetic", trailing empty groups
dropped).
"""
import glob
import json
import os
import sys
import warnings

import pydicom

TEXT_VRS = {"PN", "SH", "LO", "ST", "LT", "UT", "UC"}


def text_elements(ds, prefix, out):
    for elem in ds:
        tag = f"{elem.tag.group:04X}{elem.tag.element:04X}"
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                text_elements(item, f"{prefix}{tag}/{i}/", out)
        elif elem.VR in TEXT_VRS:
            value = elem.value
            values = list(value) if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
            out[prefix + tag] = {"vr": elem.VR, "values": ["" if v is None else str(v) for v in values]}
    return out


def main(files):
    if not files:
        here = os.path.join(os.path.dirname(pydicom.__file__), "data", "charset_files")
        files = sorted(glob.glob(os.path.join(here, "*.dcm")))
    result = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            ds = pydicom.dcmread(path)
            ds.decode()
            result.append({"file": path, "elements": text_elements(ds, "", {})})
    json.dump(result, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1:])
