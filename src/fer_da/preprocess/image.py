"""Pixel conversions and crop geometry. Pure functions of arrays and numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from fer_da.detect.base import Detection

BIT_DEPTHS = (8, 10, 12, 14, 16)  # what sensors and scanners write into 16-bit files


def sample_depth(peak: float) -> int:
    """The smallest common bit depth that holds ``peak``: a 16-bit file holding 12-bit data
    (peak <= 4095) is scaled as 12-bit, not by 65535 (which would make it near-black). Per
    image: a genuinely 16-bit but dark image (peak <= 4095) is brightened as if 12-bit; the
    manifest's ``bit_depth`` column records the depth each image was read at."""
    for bits in BIT_DEPTHS:
        if peak <= 2 ** bits - 1:
            return bits
    return 32


INTEGER_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # 16- and 32-bit grey


def image_depth(img: Image.Image) -> int:
    """The bit depth an image is read at: :func:`sample_depth` of its peak for 16- and 32-bit
    integer images, 8 otherwise (the manifest records it: a 12-bit camera file says 12)."""
    if img.mode not in INTEGER_MODES:
        return 8
    arr = np.asarray(img)
    return sample_depth(float(arr.max()) if arr.size else 0.0)


def _to_8bit(img: Image.Image) -> Image.Image:
    """Integer images scaled to 0..255 by the bit depth their values use
    (:func:`image_depth`); float images by their maximum."""
    arr = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        top = max(1.0, float(arr.max()))
    else:
        bits = image_depth(img)
        top = 2.0 ** bits - 1.0 if bits <= 16 else max(1.0, float(arr.max()))  # 32-bit: own
    return Image.fromarray(np.clip(np.rint(arr * 255.0 / top), 0, 255).astype(np.uint8), "L")


def to_rgb(img: Image.Image) -> np.ndarray:
    """Any PIL mode (grey, RGB, RGBA, palette, CMYK, 16-bit, float) as RGB uint8 (H, W, 3)."""
    if img.mode in (*INTEGER_MODES, "F"):
        img = _to_8bit(img)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, uint8 (H, W)."""
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


def choose_face(faces: Sequence[Detection]) -> Detection | None:
    """The largest face, ties broken by score; None when there is none."""
    if not faces:
        return None
    return max(faces, key=lambda d: (d.area, d.score))


def square_box(box: Sequence[float], margin: float) -> tuple[float, float, float, float]:
    """A square around the box centre, its side the longer box side grown by ``margin``."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1.0 + margin)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return (cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0)


def centre_box(height: int, width: int, fraction: float = 0.8) -> tuple[float, float, float, float]:
    """The fallback when no face is found: a centred square covering ``fraction`` of the frame."""
    side = min(height, width) * fraction
    return ((width - side) / 2.0, (height - side) / 2.0, (width + side) / 2.0,
            (height + side) / 2.0)


def inner_square(height: int, width: int,
                 margin: float = 0.0) -> tuple[float, float, float, float]:
    """The largest centred square inside the frame, grown by ``margin`` but never past it."""
    side = min(height, width) * min(1.0, 1.0 + margin)
    return ((width - side) / 2.0, (height - side) / 2.0, (width + side) / 2.0,
            (height + side) / 2.0)


def eye_angle(landmarks: np.ndarray) -> float:
    """Degrees to rotate (counter-clockwise) to make the eye line horizontal; 0 without eyes."""
    if landmarks is None or np.isnan(landmarks[:2]).any():
        return 0.0
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return float(np.degrees(np.arctan2(ry - ly, rx - lx)))


def crop_face(grey: np.ndarray, box: Sequence[float], size: int, angle: float = 0.0) -> np.ndarray:
    """Crop ``box`` (zero padding outside the frame), optionally rotated about its centre."""
    img = Image.fromarray(grey, "L")
    if angle:
        cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
        img = img.rotate(angle, resample=Image.Resampling.BILINEAR, center=(cx, cy))
    x0, y0, x1, y1 = (round(v) for v in box)
    crop = img.crop((x0, y0, x1, y1))
    return np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
