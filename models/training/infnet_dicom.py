"""Write one Inf-Net pseudo volume as a DICOM CT series in pseudo-HU, so the DICOM path (lung-triage analyze) can be
checked on what training saw. The slices are rotated back to the standard axial orientation (spine down) and
padded with air to a CT-like field of view; geometry is assumed (0.7 mm pixels, 5 mm slices: the volumes carry none).
Writes to a folder outside the repo (never commit it: it is a conversion of ../shared/data).
Usage: /usr/bin/python3 infnet_dicom.py VOLUME_NAME OUT_DIR   (VOLUME_NAME e.g. Data-1_coronacases_org_003)"""
import glob
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from data import DATA
from preprocess import grey_to_hu, load_figure_grey

PIXEL_MM, SLICE_MM, SIZE = 0.7, 5.0, 512


def main(volume, out):
    files = sorted(glob.glob(os.path.join(DATA, "infnet-pseudo-volumes/Imgs", volume + "_*.jpg")),
                   key=lambda p: int(p.rsplit("_", 1)[1][:-4]))
    if not files:
        raise SystemExit(f"no slices of {volume}")
    os.makedirs(out, exist_ok=True)
    key = "radiopaedia" if "radiopaedia" in volume else "coronacases"
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for k, p in enumerate(files):
        hu = np.rot90(grey_to_hu(load_figure_grey(p), key), 1)
        canvas = np.full((SIZE, SIZE), -1000.0)
        h, w = min(hu.shape[0], SIZE), min(hu.shape[1], SIZE)
        y0, x0 = (SIZE - h) // 2, (SIZE - w) // 2
        canvas[y0:y0 + h, x0:x0 + w] = hu[:h, :w]
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.BodyPartExamined, ds.StudyDescription = "CT", "CHEST", "CT CHEST (Inf-Net pseudo volume)"
        ds.PatientName, ds.PatientID = "INFNET^PSEUDO", volume[-24:]
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-SIZE * PIXEL_MM / 2, -SIZE * PIXEL_MM / 2, -k * SLICE_MM]
        ds.PixelSpacing, ds.SliceThickness = [PIXEL_MM, PIXEL_MM], SLICE_MM
        ds.Rows = ds.Columns = SIZE
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = np.round(canvas).astype("<i2").tobytes()
        ds.is_little_endian, ds.is_implicit_VR = True, False
        pydicom.dcmwrite(os.path.join(out, f"{k + 1:04d}.dcm"), ds, write_like_original=False)
    print(f"{len(files)} slices -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
