#!/usr/bin/python3
"""Deterministic DICOM test corpora for Ferry's tests.

Run with /usr/bin/python3 (Debian python3-pydicom, plus numpy if present).

  generate_corpus.py ct    --out DIR  [--count 300]   CT study, 512x512 16-bit, ~525 KB/slice
  generate_corpus.py small --out DIR  [--count 2000]  MR study, 64x64 16-bit, ~9 KB/instance
  generate_corpus.py big   --out FILE --bytes N       one multi-frame instance, pixel data >= N bytes
  generate_corpus.py phantom --out DIR [--count 20]   CT phantom, 512x512, shapes that move per slice
  generate_corpus.py restamp --out FILE --src FILE --key K   a copy with new study/series/SOP UIDs

Every run is idempotent: output is written to a sibling temporary path and renamed into place
only when complete, so an existing DIR or FILE means "already generated" and the run is a no-op.
Reruns give byte-identical files (fixed UIDs, dates and pixel seeds).

Each corpus carries a distinctive patient name (FERRY^CTPATIENT, FERRY^SMALL, FERRY^BIGFRAME) so
that tests can grep an encrypted spool to prove that no plaintext header leaked.
"""

import argparse
import os
import shutil
import struct
import sys
import time

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy is installed on the dev box, keep a fallback anyway
    np = None

UID_PREFIX = '1.2.826.0.1.3680043.8.498.'  # pydicom's root; entropy below makes the suffix deterministic
IMPLEMENTATION_CLASS_UID = generate_uid(UID_PREFIX, ['ferry-test-corpus', 'implementation'])
IMPLEMENTATION_VERSION = 'FERRY_CORPUS_1'

CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'
MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4'
MF_GRAYSCALE_WORD_SC_STORAGE = '1.2.840.10008.5.1.4.1.1.7.3'

STUDY_DATE = '20240115'
STUDY_TIME = '101500'


def uid(*parts):
    return generate_uid(UID_PREFIX, ['ferry-test-corpus', *[str(p) for p in parts]])


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- pixel data


def pixels_u16(seed, count, max_value):
    """`count` little-endian uint16 values in [0, max_value), deterministic for `seed`."""
    if np is not None:
        rng = np.random.RandomState(seed & 0xFFFFFFFF)
        return rng.randint(0, max_value, size=count, dtype='<u2').tobytes()
    # Fallback without numpy: xorshift32 stream. Slow-ish but deterministic.
    out = bytearray(count * 2)
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1
    for i in range(count):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        struct.pack_into('<H', out, i * 2, x % max_value)
    return bytes(out)


def random_bytes(seed, n):
    """`n` deterministic pseudo-random bytes (full 16-bit range when read as words)."""
    if np is not None:
        return np.random.RandomState(seed & 0xFFFFFFFF).bytes(n)
    return pixels_u16(seed, n // 2, 65536)


# ---------------------------------------------------------------- datasets


def file_meta(sop_class, sop_instance):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta


def new_dataset(sop_class, sop_instance):
    ds = FileDataset('', {}, file_meta=file_meta(sop_class, sop_instance), preamble=b'\0' * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SpecificCharacterSet = 'ISO_IR 100'
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = STUDY_TIME
    ds.ContentDate = STUDY_DATE
    ds.ContentTime = STUDY_TIME
    ds.Manufacturer = 'Ferry Test Corpus'
    ds.InstitutionName = 'Ferry General Hospital'
    ds.ReferringPhysicianName = 'FERRY^REFERRER'
    return ds


def set_patient(ds, name, pid, accession, study_uid, study_id):
    ds.PatientName = name
    ds.PatientID = pid
    ds.PatientBirthDate = '19700101'
    ds.PatientSex = 'O'
    ds.AccessionNumber = accession
    ds.StudyInstanceUID = study_uid
    ds.StudyID = study_id
    ds.StudyDescription = 'FERRY TEST ' + study_id


def set_image_pixel(ds, rows, cols, bits_stored, frames=None):
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0


def write_file(ds, path):
    dcmwrite(path, ds, write_like_original=False)


# ---------------------------------------------------------------- atomic outputs


def tmp_sibling(path):
    return '%s.tmp-%d' % (path, os.getpid())


def publish_dir(tmp, out):
    try:
        os.rename(tmp, out)
    except OSError:
        if os.path.isdir(out):  # a concurrent generator won the race; its output is identical
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            raise


def generate_dir(out, count, make_one, label):
    out = os.path.abspath(out)
    if os.path.isdir(out):
        log('%s: %s exists, nothing to do' % (label, out))
        return
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tmp_sibling(out)
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    started = time.monotonic()
    for i in range(count):
        make_one(tmp, i)
    publish_dir(tmp, out)
    log('%s: wrote %d files to %s in %.1fs' % (label, count, out, time.monotonic() - started))


# ---------------------------------------------------------------- ct


def axial_ct_slice(sop, n, patient, series_uid, frame_of_ref, description, thickness):
    """Slice n (from 1) of a 512x512 axial CT series, `thickness` mm apart, windowed 40/400 in HU;
    the caller adds Pixel Data. `patient` is set_patient's (name, id, accession, study UID, study id)."""
    ds = new_dataset(CT_IMAGE_STORAGE, sop)
    ds.ImageType = ['ORIGINAL', 'PRIMARY', 'AXIAL']
    set_patient(ds, *patient)
    ds.Modality = 'CT'
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 1
    ds.SeriesDescription = description
    ds.BodyPartExamined = 'CHEST'
    ds.FrameOfReferenceUID = frame_of_ref
    ds.PositionReferenceIndicator = ''
    ds.InstanceNumber = n
    ds.SliceThickness = '%.1f' % thickness
    z = '%.1f' % (0.0 - thickness * (n - 1))
    ds.ImagePositionPatient = ['-250.0', '-250.0', z]
    ds.ImageOrientationPatient = ['1', '0', '0', '0', '1', '0']
    ds.SliceLocation = z
    ds.PixelSpacing = ['0.9765625', '0.9765625']
    set_image_pixel(ds, 512, 512, 12)
    ds.WindowCenter = '40'
    ds.WindowWidth = '400'
    ds.RescaleIntercept = '-1024'
    ds.RescaleSlope = '1'
    ds.RescaleType = 'HU'
    return ds


def cmd_ct(args):
    study_uid = uid('ct', 'study')
    series_uid = uid('ct', 'series')
    frame_of_ref = uid('ct', 'frame-of-reference')

    def make_one(tmp, i):
        n = i + 1
        ds = axial_ct_slice(
            uid('ct', 'instance', n), n, ('FERRY^CTPATIENT', 'FERRYCT0001', 'FERRYACC0001', study_uid, 'CT1'),
            series_uid, frame_of_ref, 'FERRY AXIAL 1.0', 1.0)
        ds.KVP = '120'
        ds.PixelData = pixels_u16(1000 + n, 512 * 512, 4096)
        write_file(ds, os.path.join(tmp, 'CT%06d.dcm' % n))

    generate_dir(args.out, args.count, make_one, 'ct')


# ---------------------------------------------------------------- small


def cmd_small(args):
    study_uid = uid('small', 'study')
    series_count = max(1, min(4, args.count))
    per_series = -(-args.count // series_count)
    frame_of_ref = uid('small', 'frame-of-reference')

    def make_one(tmp, i):
        s = i // per_series + 1
        n = i % per_series + 1
        sop = uid('small', 'instance', i + 1)
        ds = new_dataset(MR_IMAGE_STORAGE, sop)
        ds.ImageType = ['ORIGINAL', 'PRIMARY', 'OTHER']
        set_patient(ds, 'FERRY^SMALL', 'FERRYSMALL01', 'FERRYACC0002', study_uid, 'MR1')
        ds.Modality = 'MR'
        ds.SeriesInstanceUID = uid('small', 'series', s)
        ds.SeriesNumber = s
        ds.SeriesDescription = 'FERRY SMALL SERIES %d' % s
        ds.FrameOfReferenceUID = frame_of_ref
        ds.InstanceNumber = n
        ds.ScanningSequence = 'SE'
        ds.SequenceVariant = 'NONE'
        ds.ScanOptions = ''
        ds.MRAcquisitionType = '2D'
        ds.SliceThickness = '5.0'
        ds.ImagePositionPatient = ['-120.0', '-120.0', '%.1f' % (5.0 * n)]
        ds.ImageOrientationPatient = ['1', '0', '0', '0', '1', '0']
        ds.PixelSpacing = ['3.75', '3.75']
        set_image_pixel(ds, 64, 64, 12)
        ds.PixelData = pixels_u16(50000 + i, 64 * 64, 4096)
        write_file(ds, os.path.join(tmp, 'MR_s%d_%06d.dcm' % (s, n)))

    generate_dir(args.out, args.count, make_one, 'small')


# ---------------------------------------------------------------- big (streamed)

FRAME_ROWS = 512
FRAME_COLS = 512
FRAME_BYTES = FRAME_ROWS * FRAME_COLS * 2
FRAMES_PER_WRITE = 16  # 8 MiB per write call; never more than this in memory


def cmd_big(args):
    out = os.path.abspath(args.out)
    if os.path.isfile(out):
        log('big: %s exists, nothing to do' % out)
        return
    if args.bytes <= 0:
        sys.exit('big: --bytes must be positive')
    frames = -(-args.bytes // FRAME_BYTES)
    pixel_len = frames * FRAME_BYTES
    if pixel_len >= 0xFFFFFFFF:
        sys.exit('big: %d bytes of pixel data do not fit a defined-length element' % pixel_len)

    sop = uid('big', 'instance', args.bytes)
    ds = new_dataset(MF_GRAYSCALE_WORD_SC_STORAGE, sop)
    ds.ImageType = ['DERIVED', 'SECONDARY']
    set_patient(ds, 'FERRY^BIGFRAME', 'FERRYBIG0001', 'FERRYACC0003', uid('big', 'study', args.bytes), 'SC1')
    ds.Modality = 'OT'
    ds.ConversionType = 'WSD'
    ds.SeriesInstanceUID = uid('big', 'series', args.bytes)
    ds.SeriesNumber = 1
    ds.SeriesDescription = 'FERRY BIG MULTIFRAME'
    ds.InstanceNumber = 1
    ds.PatientOrientation = ''
    set_image_pixel(ds, FRAME_ROWS, FRAME_COLS, 16, frames=frames)
    ds.FrameIncrementPointer = 0x00181063  # Frame Time
    ds.FrameTime = '33.3'
    ds.RescaleIntercept = '0'
    ds.RescaleSlope = '1'
    ds.RescaleType = 'US'
    # Everything written by pydicom sorts before (7FE0,0010); Pixel Data is appended by hand below
    # and must be the last element.
    assert all(tag < 0x7FE00010 for tag in ds.keys())

    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tmp_sibling(out)
    started = time.monotonic()
    try:
        with open(tmp, 'wb') as f:
            dcmwrite(f, ds, write_like_original=False)  # preamble, DICM, group 0002, dataset header
            f.write(struct.pack('<HH2sHI', 0x7FE0, 0x0010, b'OW', 0, pixel_len))
            for first in range(0, frames, FRAMES_PER_WRITE):
                batch = min(FRAMES_PER_WRITE, frames - first)
                f.write(random_bytes(0xB16 * 100003 + first, batch * FRAME_BYTES))
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    log('big: wrote %s (%d frames, %d pixel bytes, %d file bytes) in %.1fs'
        % (out, frames, pixel_len, os.path.getsize(out), time.monotonic() - started))


# ---------------------------------------------------------------- phantom


def cmd_phantom(args):
    """A CT series a viewer test can tell slice from slice: noise would look the same on every slice
    (and compress badly), so the phantom is smooth shapes, two of which move across the body."""
    if np is None:
        sys.exit('phantom: needs numpy')
    study_uid = uid('phantom', 'study')
    series_uid = uid('phantom', 'series')
    frame_of_ref = uid('phantom', 'frame-of-reference')
    yy, xx = np.mgrid[0:512, 0:512]
    body = ((xx - 256) / 220.0) ** 2 + ((yy - 256) / 180.0) ** 2 <= 1
    spine = (xx - 256) ** 2 + (yy - 380) ** 2 <= 25 ** 2
    last = max(1, args.count - 1)

    def make_one(tmp, i):
        n = i + 1
        # HU: air -1000, soft tissue 40, bone 1000, fat -100 (W 40/400: black, mid grey, white, dark grey).
        hu = np.full((512, 512), -1000, dtype=np.int32)
        hu[body] = 40
        hu[spine] = 1000
        bright_x = 106 + 300 * i / last  # left to right
        dark_x = 406 - 300 * i / last  # right to left
        hu[(xx - bright_x) ** 2 + (yy - 170) ** 2 <= 60 ** 2] = 1000
        hu[((xx - dark_x) ** 2 + (yy - 300) ** 2 <= 50 ** 2) & body] = -100
        ds = axial_ct_slice(
            uid('phantom', 'instance', n), n, ('FERRY^PHANTOM', 'FERRYPH0001', 'FERRYACC0004', study_uid, 'PH1'),
            series_uid, frame_of_ref, 'FERRY PHANTOM AXIAL', 5.0)
        ds.PixelData = (hu + 1024).astype('<u2').tobytes()
        write_file(ds, os.path.join(tmp, 'PH%06d.dcm' % n))

    generate_dir(args.out, args.count, make_one, 'phantom')


# ---------------------------------------------------------------- restamp


def cmd_restamp(args):
    """A copy of a sample as another study: new study, series and SOP Instance UIDs (from `key`),
    everything else as it was, the encapsulated pixel data byte for byte. Some samples are the same
    instance in several transfer syntaxes; restamped, they can be stored side by side."""
    from pydicom import dcmread

    out = os.path.abspath(args.out)
    if os.path.isfile(out):
        log('restamp: %s exists, nothing to do' % out)
        return
    ds = dcmread(args.src)
    ds.StudyInstanceUID = uid('restamp', args.key, 'study')
    ds.SeriesInstanceUID = uid('restamp', args.key, 'series')
    ds.SOPInstanceUID = uid('restamp', args.key, 'instance')
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tmp_sibling(out)
    ds.save_as(tmp, write_like_original=True)
    os.replace(tmp, out)
    log('restamp: wrote %s from %s' % (out, args.src))


# ---------------------------------------------------------------- main


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('ct', help='CT study, 512x512 16-bit slices')
    p.add_argument('--out', required=True)
    p.add_argument('--count', type=int, default=300)
    p.set_defaults(func=cmd_ct)
    p = sub.add_parser('small', help='many 64x64 MR instances in a few series')
    p.add_argument('--out', required=True)
    p.add_argument('--count', type=int, default=2000)
    p.set_defaults(func=cmd_small)
    p = sub.add_parser('big', help='one multi-frame instance, streamed to disk')
    p.add_argument('--out', required=True)
    p.add_argument('--bytes', type=int, required=True)
    p.set_defaults(func=cmd_big)
    p = sub.add_parser('phantom', help='CT phantom series whose shapes move from slice to slice')
    p.add_argument('--out', required=True)
    p.add_argument('--count', type=int, default=20)
    p.set_defaults(func=cmd_phantom)
    p = sub.add_parser('restamp', help='a copy of a DICOM file with new study, series and SOP UIDs')
    p.add_argument('--out', required=True)
    p.add_argument('--src', required=True)
    p.add_argument('--key', required=True)
    p.set_defaults(func=cmd_restamp)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == '__main__':
    main(sys.argv[1:])
