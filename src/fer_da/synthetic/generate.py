"""Write synthetic domains to disk in the native layouts of KDEF, CK+, JAFFE and TFEID.

The writers reproduce the real file names and folder nesting (shared/DATASETS.md) so the
real parsers run unchanged on them, including a little of the junk real releases carry
(``Thumbs.db``, a ``README``, unlabelled CK+ sequences, contempt).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fer_da.synthetic.faces import Identity, Style, blend, render, sample_identity

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1
STAMP = ".fer_da_synthetic.json"
SEVEN = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")

KDEF_CODES = {"anger": "AN", "disgust": "DI", "fear": "AF", "happiness": "HA",
              "sadness": "SA", "surprise": "SU", "neutral": "NE"}
CK_CODES = {"anger": 1, "contempt": 2, "disgust": 3, "fear": 4, "happiness": 5,
            "sadness": 6, "surprise": 7}
JAFFE_CODES = {"anger": "AN", "disgust": "DI", "fear": "FE", "happiness": "HA",
               "sadness": "SA", "surprise": "SU", "neutral": "NE"}
JAFFE_SUBJECTS = ("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")
TFEID_FOLDERS = {"anger": "angry", "contempt": "contempt", "disgust": "disgust", "fear": "fear",
                 "happiness": "happy", "neutral": "neutral", "sadness": "sad",
                 "surprise": "surprise"}

LIGHT_SKINS = ((232, 196, 172), (222, 182, 156), (240, 210, 190), (205, 165, 135))
ASIAN_SKINS = ((226, 190, 160), (214, 178, 146), (235, 200, 170))
MIXED_SKINS = LIGHT_SKINS + ((170, 120, 90), (120, 80, 60), (200, 160, 120))
BLACK_HAIR = ((25, 20, 20), (40, 30, 25), (15, 15, 15))
MIXED_HAIR = ((90, 60, 30), (200, 170, 100), (40, 30, 25), (140, 90, 50), (60, 40, 25))


@dataclass(frozen=True)
class Preset:
    """A synthetic domain: its photographic style, its layout and its default size."""

    layout: str
    style: Style
    subjects: int


PRESETS: dict[str, Preset] = {
    # colour portraits, 562x762 / 4, studio blue-grey background, strong posed expressions
    "kdef": Preset("kdef", Style(
        width=141, height=190, grey=False, face_height=0.5, center=(0.5, 0.45), jitter=0.02,
        background=(112, 122, 140), light=0.05, brightness=0.0, contrast=1.0, noise=1.5,
        blur=0.2, skins=LIGHT_SKINS, hairs=MIXED_HAIR, intensity=(0.9, 1.0)), subjects=20),
    # 640x490 / 4 grey frames, side light, dark background, noisy camera, over-exposed
    "ckplus": Preset("ckplus", Style(
        width=160, height=122, grey=True, face_height=0.68, center=(0.53, 0.52), jitter=0.05,
        background=(55, 55, 55), light=0.2, brightness=25.0, contrast=0.95, noise=4.0,
        blur=0.7, skins=LIGHT_SKINS, hairs=MIXED_HAIR, intensity=(0.8, 1.0), eye_scale=0.95),
        subjects=16),
    # 256x256 / 2 grey, tight crop, flat dim light, soft focus, subtle posed expressions
    "jaffe": Preset("jaffe", Style(
        width=128, height=128, grey=True, face_height=0.72, center=(0.5, 0.52), jitter=0.03,
        background=(165, 165, 160), light=-0.1, brightness=-25.0, contrast=0.8, noise=3.0,
        blur=0.9, skins=ASIAN_SKINS, hairs=BLACK_HAIR, intensity=(0.55, 0.8), eye_scale=0.8,
        gap_scale=0.95), subjects=10),
    # 480x600 / 4 colour on black, warm light from the right, Taiwanese actors
    "tfeid": Preset("tfeid", Style(
        width=120, height=150, grey=False, face_height=0.52, center=(0.5, 0.42), jitter=0.04,
        background=(28, 28, 34), light=-0.2, brightness=12.0, contrast=1.1, noise=2.0,
        blur=0.3, skins=ASIAN_SKINS, hairs=BLACK_HAIR, intensity=(0.7, 1.0), eye_scale=0.85),
        subjects=12),
}


def _rng(seed: int, name: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode()), *keys])


def _photo(who: Identity, label: str, intensity: float, style: Style,
           rng: np.random.Generator) -> Image.Image:
    pixels, _ = render(who, blend(label, intensity), style, rng)
    return Image.fromarray(pixels[..., 0] if style.grey else pixels, "L" if style.grey else "RGB")


def _save(img: Image.Image, path: Path, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)


def _intensity(rng: np.random.Generator, style: Style) -> float:
    return float(rng.uniform(*style.intensity))


def write_kdef(root: Path, preset: Preset, seed: int, subjects: int) -> None:
    """``KDEF/AF01/AF01ANS.JPG``: two sessions, straight angle, half women half men."""
    style = preset.style
    for i in range(subjects):
        gender, number = ("F", i // 2 + 1) if i % 2 == 0 else ("M", i // 2 + 1)
        who = sample_identity(_rng(seed, "kdef-id", i), style)
        for s, session in enumerate("AB"):
            folder = root / "KDEF" / f"{session}{gender}{number:02d}"
            for k, label in enumerate(SEVEN):
                rng = _rng(seed, "kdef", i, s, k)
                img = _photo(who, label, _intensity(rng, style), style, rng)
                name = f"{session}{gender}{number:02d}{KDEF_CODES[label]}S.JPG"
                _save(img, folder / name, quality=92)
    (root / "KDEF" / "AF01" / "Thumbs.db").write_bytes(b"\x00" * 64)


def write_ckplus(root: Path, preset: Preset, seed: int, subjects: int,
                 sequences: int = 3, frames: int = 6) -> None:
    """``cohn-kanade-images/S005/001/S005_001_00000001.png`` and ``Emotion/...emotion.txt``.

    Frames ramp from neutral to the peak; every fifth sequence is left unlabelled and every
    seventh labelled one shows contempt, as in the real release.
    """
    style = preset.style
    order = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
    counter = 0
    for i in range(subjects):
        sid = f"S{5 * (i + 1):03d}"
        who = sample_identity(_rng(seed, "ck-id", i), style)
        for j in range(sequences):
            counter += 1
            label = "contempt" if counter % 7 == 0 else order[(i * sequences + j) % len(order)]
            seq = f"{j + 1:03d}"
            rng = _rng(seed, "ck", i, j)
            peak = _intensity(rng, style)
            for f in range(frames):
                t = peak * (f / (frames - 1)) ** 0.8
                img = _photo(who, label, t, style, _rng(seed, "ck-frame", i, j, f))
                name = f"{sid}_{seq}_{f + 1:08d}.png"
                _save(img, root / "cohn-kanade-images" / sid / seq / name)
            if counter % 5 != 0:
                code = CK_CODES[label]
                label_file = root / "Emotion" / sid / seq / f"{sid}_{seq}_{frames:08d}_emotion.txt"
                label_file.parent.mkdir(parents=True, exist_ok=True)
                label_file.write_text(f"   {code:.7e}\n")


def write_jaffe(root: Path, preset: Preset, seed: int, subjects: int, repeats: int = 3) -> None:
    """Flat folder of ``KA.AN1.39.tiff`` greyscale TIFFs, with a README beside them."""
    style = preset.style
    serial = 0
    for i, sid in enumerate(JAFFE_SUBJECTS[:subjects]):
        who = sample_identity(_rng(seed, "jaffe-id", i), style)
        for k, label in enumerate(SEVEN):
            for r in range(repeats):
                serial += 1
                rng = _rng(seed, "jaffe", i, k, r)
                img = _photo(who, label, _intensity(rng, style), style, rng)
                ext = "tif" if serial % 17 == 0 else "tiff"
                _save(img, root / f"{sid}.{JAFFE_CODES[label]}{r + 1}.{serial}.{ext}")
    (root / "README").write_text("Japanese Female Facial Expression (synthetic stand-in)\n")


def write_tfeid(root: Path, preset: Preset, seed: int, subjects: int, intensities: int = 2) -> None:
    """Folder per expression (``angry/``, ``happy/``...), ``tf03_happy_2.jpg``, with contempt."""
    style = preset.style
    for i in range(subjects):
        who = sample_identity(_rng(seed, "tfeid-id", i), style)
        for k, (label, folder) in enumerate(TFEID_FOLDERS.items()):
            for level in range(intensities):
                rng = _rng(seed, "tfeid", i, k, level)
                lo, hi = style.intensity
                t = lo + (hi - lo) * (level + 1) / intensities
                img = _photo(who, label, t, style, rng)
                _save(img, root / folder / f"tf{i + 1:02d}_{folder}_{level + 1}.jpg", quality=90)


WRITERS: dict[str, Callable[[Path, Preset, int, int], None]] = {
    "kdef": write_kdef, "ckplus": write_ckplus, "jaffe": write_jaffe, "tfeid": write_tfeid,
}


def generate_domain(root: Path, preset: str, seed: int, subjects: int | None = None) -> None:
    """Write one synthetic domain under ``root`` (absent or an empty folder)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown synthetic preset {preset!r}; choose one of {sorted(PRESETS)}")
    spec = PRESETS[preset]
    WRITERS[spec.layout](Path(root), spec, seed, subjects or spec.subjects)


def _fingerprint(preset: str, seed: int, subjects: int | None) -> dict:
    spec = PRESETS[preset]
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()
    return {"generator_version": GENERATOR_VERSION, "preset": preset, "seed": seed,
            "subjects": subjects or spec.subjects, "style_sha256": digest}


def ensure_domain(root: str | Path, preset: str, seed: int, subjects: int | None = None) -> Path:
    """Generate the domain on first use; reuse it while its stamp matches the request.

    A folder that exists without a stamp is treated as real data and never overwritten.
    """
    root = Path(root)
    wanted = _fingerprint(preset, seed, subjects)
    stamp = root / STAMP
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return root
    if root.exists() and any(root.iterdir()) and not stamp.exists():
        raise FileExistsError(
            f"{root} holds files that were not generated by fer-da; refusing to overwrite them. "
            "Point the synthetic dataset elsewhere or remove the folder.")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{root.name}.", suffix=".partial", dir=root.parent))
    logger.info("Generating synthetic domain %r (seed %d) under %s", preset, seed, root)
    generate_domain(tmp, preset, seed, subjects)
    (tmp / STAMP).write_text(json.dumps(wanted, sort_keys=True))
    if root.exists() and not (stamp.exists() and json.loads(stamp.read_text()) == wanted):
        shutil.rmtree(root, ignore_errors=True)  # an outdated generated domain
    try:
        tmp.rename(root)
    except OSError:  # a concurrent run installed it first: keep theirs if it is ours
        shutil.rmtree(tmp, ignore_errors=True)
        if not (stamp.exists() and json.loads(stamp.read_text()) == wanted):
            raise
    return root
