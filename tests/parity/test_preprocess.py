"""`medvqa preprocess` against open_clip's own eval transform on PIL images (and pydicom for DICOM).

Images are written at test time with PIL/numpy in many sizes, aspect ratios, bit depths and modes;
the reference is open_clip.transform.image_transform(224, is_train=False, mean, std) applied to
PIL.Image.open(path). 16-bit images follow medvqa's documented full-range mapping instead of PIL
(which saturates them to white), DICOM files pydicom's modality LUT + VOI window scaled to 0..255."""
import json
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from open_clip.transform import image_transform
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from safetensors.torch import load_file

from conftest import assert_user_error

# Both sides resample in Pillow's fixed point to the same uint8 and normalise in float32 in the same
# order, so only float rounding of (x/255 - mean)/std may differ: far below one grey level (~0.015).
PIXEL_TOLERANCE = 1e-5
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
DICOM_DIR = Path("/usr/lib/python3/dist-packages/pydicom/data/test_files")


@pytest.fixture(scope="module")
def vision_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("biomedclip")
    config = {"model_cfg": {"embed_dim": 512, "vision_cfg": {"timm_model_name": "vit_base_patch16_224",
                                                             "timm_model_pretrained": False, "timm_pool": "",
                                                             "timm_proj": "linear", "image_size": 224}},
              "preprocess_cfg": {"mean": MEAN, "std": STD}}
    (d / "open_clip_config.json").write_text(json.dumps(config))
    return d


@pytest.fixture(scope="module")
def reference():
    return image_transform(224, is_train=False, mean=MEAN, std=STD)


def smooth_noise(rng, h, w, c):
    """Photo-like content (gradients + noise) so resampling errors would show."""
    y, x = np.mgrid[0:h, 0:w]
    base = (np.sin(x / 7.0)[..., None] * 60 + np.cos(y / 11.0)[..., None] * 60 + 128) * np.ones((1, 1, c))
    return np.clip(base + rng.normal(0, 30, (h, w, c)), 0, 255).astype(np.uint8)


def make_images(d):
    """name -> path of every 8-bit test image; returns the dict."""
    rng = np.random.default_rng(0)
    out = {}

    def save(name, im, **kw):
        out[name] = d / name
        im.save(out[name], **kw)

    save("rgb_landscape.png", Image.fromarray(smooth_noise(rng, 300, 451, 3)))
    save("rgb_noise_large.png", Image.fromarray(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)))
    save("rgb_square_224.png", Image.fromarray(smooth_noise(rng, 224, 224, 3)))
    save("rgb_odd_crop.png", Image.fromarray(smooth_noise(rng, 227, 229, 3)))  # round-half-even offsets
    save("gray_small_upscale.png", Image.fromarray(smooth_noise(rng, 48, 64, 1)[..., 0], "L"))
    save("gray_very_wide.png", Image.fromarray(smooth_noise(rng, 3, 1000, 1)[..., 0], "L"))
    save("rgb_very_tall.png", Image.fromarray(smooth_noise(rng, 700, 5, 3)))
    # 300x1100 -> 224x821: the height shrinks by more than twice the width, so Pillow 13 goes vertical first.
    save("rgb_tall_downscale.png", Image.fromarray(smooth_noise(rng, 1100, 300, 3)))
    rgba = smooth_noise(rng, 257, 300, 4)
    rgba[..., 3] = np.linspace(0, 255, 300, dtype=np.uint8)[None, :]  # alpha 0 .. 255 across the image
    rgba[100:120, :, 3] = 0
    save("rgba_alpha.png", Image.fromarray(rgba, "RGBA"))
    la = smooth_noise(rng, 90, 120, 2)
    la[..., 1] = rng.integers(0, 256, (90, 120), dtype=np.uint8)
    save("gray_alpha.png", Image.fromarray(la, "LA"))
    save("palette.png", Image.fromarray(smooth_noise(rng, 180, 250, 3)).quantize(64))
    save("one_bit.png", Image.fromarray(smooth_noise(rng, 50, 77, 1)[..., 0] > 128).convert("1"))
    save("rgb.jpg", Image.fromarray(smooth_noise(rng, 333, 200, 3)), quality=90)
    save("gray.jpg", Image.fromarray(smooth_noise(rng, 260, 390, 1)[..., 0], "L"), quality=85)
    save("rgb.bmp", Image.fromarray(smooth_noise(rng, 224, 225, 3)))
    save("palette.bmp", Image.fromarray(smooth_noise(rng, 140, 97, 3)).quantize(200))
    save("rgb.tif", Image.fromarray(smooth_noise(rng, 227, 230, 3)))
    save("gray.tif", Image.fromarray(smooth_noise(rng, 301, 199, 1)[..., 0], "L"))
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp("images"))


def medvqa_pixels(run, vision_dir, image, tmp_path, *extra):
    out = tmp_path / (Path(image).stem + ".safetensors")
    run("preprocess", "--vision", vision_dir, "--image", image, "--out", out, *extra)
    return load_file(str(out))["pixels"]


def assert_close(got, want, what):
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    diff = (got - want).abs()
    worst = diff.max().item()
    where = np.unravel_index(int(diff.argmax()), tuple(diff.shape))
    assert worst < PIXEL_TOLERANCE, (f"{what}: max abs diff {worst:.3g} at [c, y, x] = {where}: "
                                     f"medvqa {got[where].item():.6f}, reference {want[where].item():.6f}")
    return worst


@pytest.mark.parametrize("name", ["rgb_landscape.png", "rgb_noise_large.png", "rgb_square_224.png",
                                  "rgb_odd_crop.png", "gray_small_upscale.png", "gray_very_wide.png",
                                  "rgb_very_tall.png", "rgb_tall_downscale.png", "rgba_alpha.png", "gray_alpha.png", "palette.png",
                                  "one_bit.png", "rgb.jpg", "gray.jpg", "rgb.bmp", "palette.bmp", "rgb.tif",
                                  "gray.tif"])
def test_matches_open_clip(run, vision_dir, reference, images, tmp_path, name):
    want = reference(Image.open(images[name]))
    got = medvqa_pixels(run, vision_dir, images[name], tmp_path)
    worst = assert_close(got, want, name)
    print(f"{name}: mode {Image.open(images[name]).mode}, max abs diff {worst:.3g}")


def expand2square(img, background):
    """LLaVA-1.5's pad-to-square (llava/mm_utils.py)."""
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    result = Image.new(img.mode, (side, side), background)
    result.paste(img, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return result


@pytest.mark.parametrize("name", ["rgb_landscape.png", "rgb_very_tall.png", "rgba_alpha.png", "gray.jpg"])
def test_pad_mode_matches_llava_expand2square(run, vision_dir, reference, images, tmp_path, name):
    background = tuple(int(x * 255) for x in MEAN)
    want = reference(expand2square(Image.open(images[name]).convert("RGB"), background))
    got = medvqa_pixels(run, vision_dir, images[name], tmp_path, "--mode", "pad")
    assert_close(got, want, name + " (pad)")


def window_8bit(values, center, width):
    """DICOM PS3.3 C.11.2.1.2.1 linear window onto 0..255, rounded half up (docs/images.md)."""
    c, w = center - 0.5, width - 1
    x = values.astype(np.float64)
    y = np.where(x <= c - w / 2, 0.0, np.where(x > c + w / 2, 255.0,
                                              ((x - c) / np.maximum(w, 1e-300) + 0.5) * 255.0))
    return np.floor(y + 0.5).astype(np.uint8)


def full_range_8bit(values):
    lo, hi = float(values.min()), float(values.max())
    return window_8bit(values, (lo + hi) / 2 + 0.5, hi - lo + 1)


@pytest.mark.parametrize("window", [None, (30000, 20000)])
def test_16bit_gray_uses_documented_mapping(run, vision_dir, reference, tmp_path, window):
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:190, 0:260]
    values = (x * 150 + y * 40 + rng.integers(0, 3000, (190, 260)) + 5000).astype(np.uint16)
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")  # PIL would saturate this to white
    eight = full_range_8bit(values) if window is None else window_8bit(values, *window)
    want = reference(Image.fromarray(eight, "L"))
    extra = [] if window is None else ["--window", f"{window[0]},{window[1]}"]
    assert_close(medvqa_pixels(run, vision_dir, path, tmp_path, *extra), want, f"gray16 window={window}")


def dicom_8bit(ds, window=None):
    """pydicom's modality LUT then VOI window (or the full range) as 8-bit gray."""
    arr = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        arr = arr[0]
    values = apply_modality_lut(arr, ds)
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if "WindowCenter" in ds:
        # apply_voi_lut maps onto the stored value range [y_min, y_max]; rescale that to 0..255.
        stored = ds.BitsStored
        y_min, y_max = (0, 2**stored - 1) if ds.PixelRepresentation == 0 else (-(2**(stored - 1)), 2**(stored - 1) - 1)
        if "RescaleSlope" in ds and "RescaleIntercept" in ds:
            y_min, y_max = (v * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for v in (y_min, y_max))
        voi = apply_voi_lut(values, ds)
        eight = np.floor((voi - y_min) / (y_max - y_min) * 255.0 + 0.5).astype(np.uint8)
    else:
        eight = full_range_8bit(values)
    return 255 - eight if ds.PhotometricInterpretation == "MONOCHROME1" else eight


DICOM_FILES = ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm",
               "MR_small_implicit.dcm", "MR_small_padded.dcm", "MR_small_jp2klossless.dcm", "693_J2KI.dcm",
               "JPEG2000.dcm", "image_dfl.dcm", "rtdose.dcm", "rtdose_1frame.dcm", "rtdose_rle_1frame.dcm",
               "rtdose_expb_1frame.dcm"]


@pytest.mark.parametrize("name", DICOM_FILES)
def test_dicom_matches_pydicom(run, vision_dir, reference, tmp_path, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eight = dicom_8bit(pydicom.dcmread(DICOM_DIR / name))
    want = reference(Image.fromarray(eight, "L"))
    assert_close(medvqa_pixels(run, vision_dir, DICOM_DIR / name, tmp_path), want, name)


@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm"])
def test_dicom_lossless_codec_equals_uncompressed(run, vision_dir, tmp_path, name):
    """Compressed syntaxes pydicom cannot decode here: lossless, so equal to the uncompressed file."""
    got = medvqa_pixels(run, vision_dir, DICOM_DIR / name, tmp_path)
    want = medvqa_pixels(run, vision_dir, DICOM_DIR / "MR_small.dcm", tmp_path)
    assert torch.equal(got, want)


def test_dicom_explicit_window_and_monochrome1(run, vision_dir, reference, tmp_path):
    src = DICOM_DIR / "CT_small.dcm"
    want = reference(Image.fromarray(dicom_8bit(pydicom.dcmread(src), window=(40, 400)), "L"))
    assert_close(medvqa_pixels(run, vision_dir, src, tmp_path, "--window", "40,400"), want, "CT --window 40,400")

    ds = pydicom.dcmread(src)
    ds.PhotometricInterpretation = "MONOCHROME1"
    mono1 = tmp_path / "mono1.dcm"
    ds.save_as(mono1)
    want = reference(Image.fromarray(dicom_8bit(pydicom.dcmread(mono1)), "L"))
    assert_close(medvqa_pixels(run, vision_dir, mono1, tmp_path), want, "MONOCHROME1")


def test_bad_inputs_are_user_errors(run, vision_dir, images, tmp_path):
    out = tmp_path / "x.safetensors"

    def preprocess(path, *fragments):
        proc = run("preprocess", "--vision", vision_dir, "--image", path, "--out", out, check=False)
        assert_user_error(proc, str(path), *fragments)
        assert not out.exists()

    preprocess(tmp_path / "missing.png", "No such file")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(images["rgb_landscape.png"].read_bytes()[:5000])
    preprocess(truncated, "cannot decode")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    preprocess(empty, "empty")
    zero = tmp_path / "zero.png"  # signature + an IHDR of width 0
    zero.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + (0).to_bytes(4, "big") + (5).to_bytes(4, "big")
                     + b"\x08\x00\x00\x00\x00" + b"\x00" * 4)
    preprocess(zero, "zero size")
    preprocess(DICOM_DIR / "rtplan.dcm", "no pixel data")
    preprocess(DICOM_DIR / "SC_rgb.dcm" if (DICOM_DIR / "SC_rgb.dcm").exists() else DICOM_DIR / "SC_rgb_rle.dcm",
               "colour")
    preprocess(DICOM_DIR / "MR_truncated.dcm", "truncated")

    ds = pydicom.dcmread(DICOM_DIR / "MR_small.dcm")
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no GDCM codec
    ds.PixelData = pydicom.encaps.encapsulate([ds.PixelData])
    mpeg = tmp_path / "mpeg2.dcm"
    ds.save_as(mpeg, enforce_file_format=True)
    preprocess(mpeg, "1.2.840.10008.1.2.4.100")

    proc = run("preprocess", "--vision", vision_dir, "--image", images["rgb.bmp"], "--out", out, "--window", "40",
               check=False)
    assert_user_error(proc, "--window", "CENTER,WIDTH")


def test_several_images_keep_input_order(run, vision_dir, reference, images, tmp_path):
    names = ["rgb_landscape.png", "palette.png", "gray.jpg", "rgba_alpha.png", "rgb.tif"]
    out = tmp_path / "batch.safetensors"
    run("preprocess", "--vision", vision_dir, "--image", *[images[n] for n in names], "--out", out, "--threads", 3)
    got = load_file(str(out))["pixels"]
    assert got.shape == (len(names), 3, 224, 224)
    for i, n in enumerate(names):
        assert_close(got[i], reference(Image.open(images[n])), f"batch item {i} ({n})")
