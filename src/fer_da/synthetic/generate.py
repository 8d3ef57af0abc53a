"""Write synthetic domains to disk in the native layouts of KDEF, CK+, JAFFE and TFEID, and
of the cross-domain FER benchmark's RAF-DB, FER2013, SFEW 2.0 and ExpW (``conf/cdfer``'s
stand-ins).

The writers reproduce the real file names and folder nesting (shared/DATASETS.md,
docs/datasets.md) so the real parsers run unchanged on them, including a little of the junk
real releases carry (``Thumbs.db``, a ``README``, unlabelled CK+ sequences, contempt).
The in-the-wild stand-ins vary light, exposure, contrast, blur and background photo by photo.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from fer_da.permissions import as_if_created
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


# the cross-domain FER benchmark's source and in-the-wild targets (conf/cdfer's stand-ins)
PRESETS.update({
    # 100x100 colour, aligned (the face fills the frame), varied people and photographs
    "rafdb": Preset("rafdb", Style(
        width=100, height=100, grey=False, face_height=0.74, center=(0.5, 0.52), jitter=0.03,
        background=(120, 110, 100), light=0.0, brightness=0.0, contrast=1.0, noise=2.0,
        blur=0.3, skins=MIXED_SKINS, hairs=MIXED_HAIR, intensity=(0.6, 1.0)), subjects=56),
    # 48x48 grey JPEG, tight crops, in the wild
    "fer2013": Preset("fer2013", Style(
        width=48, height=48, grey=True, face_height=0.8, center=(0.5, 0.52), jitter=0.05,
        background=(100, 100, 100), light=0.0, brightness=0.0, contrast=1.0, noise=3.0,
        blur=0.4, skins=MIXED_SKINS, hairs=MIXED_HAIR, intensity=(0.5, 1.0)), subjects=56),
    # film stills' aligned faces (143x181 / 2), colour PNG, dark film light
    "sfew": Preset("sfew", Style(
        width=72, height=90, grey=False, face_height=0.66, center=(0.5, 0.5), jitter=0.04,
        background=(45, 40, 38), light=0.15, brightness=-15.0, contrast=0.9, noise=2.5,
        blur=0.5, skins=MIXED_SKINS, hairs=MIXED_HAIR, intensity=(0.5, 0.95)), subjects=42),
    # web photos holding several faces (one portrait per face pasted into the photo)
    "expw": Preset("expw", Style(
        width=64, height=72, grey=False, face_height=0.6, center=(0.5, 0.5), jitter=0.04,
        background=(150, 140, 120), light=0.0, brightness=0.0, contrast=1.0, noise=2.0,
        blur=0.3, skins=MIXED_SKINS, hairs=MIXED_HAIR, intensity=(0.5, 1.0)), subjects=42),
})
RAFDB_CODES = {"surprise": 1, "fear": 2, "disgust": 3, "happiness": 4, "sadness": 5,
               "anger": 6, "neutral": 7}
EXPW_CODES = {"anger": 0, "disgust": 1, "fear": 2, "happiness": 3, "sadness": 4,
              "surprise": 5, "neutral": 6}
FER2013_FOLDERS = {"anger": "angry", "disgust": "disgust", "fear": "fear",
                   "happiness": "happy", "neutral": "neutral", "sadness": "sad",
                   "surprise": "surprise"}
SFEW_FOLDERS = {"anger": "Angry", "disgust": "Disgust", "fear": "Fear", "happiness": "Happy",
                "neutral": "Neutral", "sadness": "Sad", "surprise": "Surprise"}
# the share of each class in an in-the-wild stand-in, skewed as the real sets are
WILD_FACES_PER_PERSON = 5  # an in-the-wild stand-in: `subjects` people x 5 faces
WILD_SHARES = {"happiness": 0.26, "neutral": 0.18, "sadness": 0.14, "surprise": 0.12,
               "anger": 0.12, "fear": 0.10, "disgust": 0.08}


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


def _wild(style: Style, rng: np.random.Generator) -> Style:
    """One in-the-wild photograph's conditions around the domain's own."""
    grey = int(rng.integers(30, 200))
    return replace(style, light=style.light + float(rng.uniform(-0.3, 0.3)),
                   brightness=style.brightness + float(rng.uniform(-30, 30)),
                   contrast=style.contrast * float(rng.uniform(0.75, 1.25)),
                   blur=max(0.0, style.blur + float(rng.uniform(-0.3, 0.6))),
                   background=tuple(int(np.clip(grey + rng.integers(-40, 40), 0, 255))
                                    for _ in range(3)))


def _wild_faces(seed: int, name: str, preset: Preset, subjects: int,
                person: Callable[[int], int] | None = None):
    """About ``subjects`` x :data:`WILD_FACES_PER_PERSON` faces of ``subjects`` people,
    classes skewed by :data:`WILD_SHARES`: (index, label, identity, photo) in order. Face
    ``n`` shows person ``person(n)`` (default: one drawn at random)."""
    total = subjects * WILD_FACES_PER_PERSON
    people = [sample_identity(_rng(seed, f"{name}-id", i), preset.style)
              for i in range(subjects)]
    n = 0
    for label, share in WILD_SHARES.items():
        for _ in range(max(2, round(share * total))):
            rng = _rng(seed, name, n)
            who = people[person(n) % subjects if person else int(rng.integers(subjects))]
            style = _wild(preset.style, rng)
            yield n, label, who, _photo(who, label, _intensity(rng, style), style, rng)
            n += 1


def _thirds(n: int, parts: tuple[str, ...], shares: tuple[float, ...]) -> str:
    """Deterministic split of face ``n``: every 20 faces, ``shares`` of them per part."""
    k, edge = n % 20, 0.0
    for part, share in zip(parts, shares, strict=True):
        edge += share * 20
        if k < edge:
            return part
    return parts[-1]


def write_rafdb(root: Path, preset: Preset, seed: int, subjects: int) -> None:
    """``basic/Image/aligned/train_00001_aligned.jpg`` and
    ``basic/EmoLabel/list_patition_label.txt`` (``train_00001.jpg 4``; 1-7), 4:1 train:test."""
    lines = []
    for n, label, _, img in _wild_faces(seed, "rafdb", preset, subjects):
        split = _thirds(n, ("train", "test"), (0.8, 0.2))
        name = f"{split}_{n + 1:05d}"
        _save(img, root / "basic" / "Image" / "aligned" / f"{name}_aligned.jpg", quality=92)
        lines.append(f"{name}.jpg {RAFDB_CODES[label]}")
    (root / "basic" / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (root / "basic" / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")


def write_fer2013(root: Path, preset: Preset, seed: int, subjects: int) -> None:
    """``<train|validation|test>/<angry|…|surprise>/<n>.jpg``, 48x48 grey (the folder layout
    of FER2013 as re-laid out from its csv: validation = PublicTest, test = PrivateTest)."""
    for n, label, _, img in _wild_faces(seed, "fer2013", preset, subjects):
        split = _thirds(n, ("train", "validation", "test"), (0.7, 0.1, 0.2))
        _save(img, root / split / FER2013_FOLDERS[label] / f"{n:05d}.jpg", quality=90)


def write_sfew(root: Path, preset: Preset, seed: int, subjects: int) -> None:
    """``<Train|Val>/<Angry|…|Surprise>/<Film>_<time>_<face>.png``: film stills' faces, the
    people of a film in that film only, films split 2:1 between Train and Val."""
    films = max(3, subjects // 3)

    def actor(n: int) -> int:  # three actors per film, each in that film alone
        return 3 * (n % films) + (n // films) % 3

    for n, label, _, img in _wild_faces(seed, "sfew", preset, subjects, actor):
        film = n % films
        split = "Val" if film % 3 == 2 else "Train"
        name = f"Film{film:02d}_{1000 + 37 * n:08d}_{1 + n % 3:08d}.png"
        _save(img, root / split / SFEW_FOLDERS[label] / name)


def write_expw(root: Path, preset: Preset, seed: int, subjects: int) -> None:
    """``image/origin/<photo>.jpg`` holding 1-3 faces each and ``label/label.lst``
    (``photo face_id top left right bottom confidence label``; labels 0-6)."""
    style, lines = preset.style, []
    faces = list(_wild_faces(seed, "expw", preset, subjects))
    photo_no, i = 0, 0
    while i < len(faces):
        rng = _rng(seed, "expw-photo", photo_no)
        group = faces[i: i + int(rng.integers(1, 4))]
        i += len(group)
        pad = int(rng.integers(4, 16))
        canvas = Image.new("RGB", (pad + len(group) * (style.width + pad),
                                   style.height + 2 * pad), tuple(
            int(v) for v in rng.integers(60, 200, size=3)))
        name = f"web_{photo_no:05d}.jpg"
        for face_id, (_, label, _, img) in enumerate(group):
            left, top = pad + face_id * (style.width + pad), pad
            canvas.paste(img.convert("RGB"), (left, top))
            confidence = float(rng.uniform(30.0, 99.0))
            lines.append(f"{name} {face_id} {top} {left} {left + style.width} "
                         f"{top + style.height} {confidence:.2f} {EXPW_CODES[label]}")
        _save(canvas, root / "image" / "origin" / name, quality=92)
        photo_no += 1
    (root / "label").mkdir(parents=True, exist_ok=True)
    (root / "label" / "label.lst").write_text("\n".join(lines) + "\n")


WRITERS: dict[str, Callable[[Path, Preset, int, int], None]] = {
    "kdef": write_kdef, "ckplus": write_ckplus, "jaffe": write_jaffe, "tfeid": write_tfeid,
    "rafdb": write_rafdb, "fer2013": write_fer2013, "sfew": write_sfew, "expw": write_expw,
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
    as_if_created(tmp, directory=True)
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
