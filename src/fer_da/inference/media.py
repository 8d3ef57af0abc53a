"""What a lab hands the inference pipeline: a folder, a list of files, an image or a video.

Pure listing and decoding (no Kedro). Images are decoded exactly as ingestion decodes them
(:meth:`fer_da.ingest.tree.RawTree.open_image`: EXIF orientation applied), videos with OpenCV,
one frame every ``every_s`` seconds. Whatever cannot be used is a reject naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from fer_da.ingest.tree import IMAGE_SUFFIXES, RawTree, decode_text, frames_of, read_csv_lines
from fer_da.preprocess.image import to_rgb

logger = logging.getLogger(__name__)
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
LIST_SUFFIXES = frozenset({".txt", ".csv"})
REJECT_COLUMNS = ["file", "frame", "reason", "detail"]


@dataclass
class Media:
    """The files to predict on (absolute paths, in order) and the entries refused while
    listing them (``file``, ``frame``, ``reason``, ``detail``)."""

    files: list[str]
    rejects: list[dict] = field(default_factory=list)
    source: str = ""

    @property
    def n_videos(self) -> int:
        return sum(Path(f).suffix.lower() in VIDEO_SUFFIXES for f in self.files)


def _reject(file: str, reason: str, detail: str, frame: int | None = None) -> dict:
    return {"file": file, "frame": frame, "reason": reason, "detail": detail[:200]}


def _classify(path: Path, media: Media) -> None:
    suffix = path.suffix.lower()
    if not path.exists():
        media.rejects.append(_reject(str(path), "missing_file", "no such file"))
    elif suffix in IMAGE_SUFFIXES or suffix in VIDEO_SUFFIXES:
        media.files.append(str(path))
    else:
        media.rejects.append(_reject(str(path), "not_media",
                                     f"suffix {suffix or '(none)'} is neither an image "
                                     f"({', '.join(sorted(IMAGE_SUFFIXES))}) nor a video "
                                     f"({', '.join(sorted(VIDEO_SUFFIXES))})"))


def _csv_entries(path: Path) -> list[str]:
    """The ``path`` column of a ``.csv`` list, read as ingestion reads a csv manifest: a
    malformed line (an unclosed quote, a field too many) or another encoding is a
    ``ValueError`` naming the list and the line."""
    header, records, bad = read_csv_lines(path.read_bytes(), str(path))
    if "path" not in header:
        raise ValueError(f"{path}: a list of files needs a 'path' column, got {header}")
    if bad:
        where = "; ".join(f"line {line}: {problem}" for line, problem in bad[:5])
        raise ValueError(f"{path}: {len(bad)} malformed lines ({where}); fix them, or list "
                         "one file per line in a .txt")
    return [rec["path"].strip() for _, rec in records if rec["path"].strip()]


def _listed(path: Path) -> list[Path]:
    """The files of a list: one per line (``.txt``) or the ``path`` column (``.csv``);
    relative entries are relative to the list's folder."""
    if path.suffix.lower() == ".csv":
        entries = _csv_entries(path)
    else:  # UTF-8 (a BOM stripped); another encoding names the list and the line
        entries = [ln.strip() for ln in decode_text(path.read_bytes(), str(path)).splitlines()]
        entries = [e for e in entries if e and not e.startswith("#")]
    return [p if p.is_absolute() else path.parent / p for p in map(Path, entries)]


def list_media(source: str | Path | list[str]) -> Media:
    """A folder (every file under it, sorted), a list file (``.txt``/``.csv``), one image or
    video, or a list of such paths. A path that does not exist at the top level is an error
    naming it; inside a folder or list it is a reject. A folder is listed as ingestion lists
    a dataset root (:class:`~fer_da.ingest.tree.RawTree`): links inside it are followed while
    they stay inside it; a link out of it, a broken link or an unreadable folder is a reject.
    """
    entries = list(source) if isinstance(source, list | tuple) else [source]
    media = Media(files=[], source=";".join(str(e) for e in entries))
    for entry in map(Path, entries):
        if entry.is_dir():  # listed as ingestion lists a root: links confined to the folder
            tree = RawTree(entry)
            for rel in tree.files:  # the generator's stamp is left out, as in ingestion
                _classify(entry / rel, media)
            media.rejects += [_reject(str(entry / p.path), p.reason, p.detail)
                              for p in tree.problems]
        elif entry.is_file() and entry.suffix.lower() in LIST_SUFFIXES:
            for path in _listed(entry):
                if path.is_dir():
                    media.rejects.append(_reject(str(path), "not_media",
                                                 "a folder inside a list of files"))
                else:
                    _classify(path, media)
        elif entry.exists():
            _classify(entry, media)
        else:
            raise FileNotFoundError(f"inference input {entry} does not exist (set "
                                    "inference.input, or --params inference.input=<path>)")
    return media


def read_image(file: str) -> np.ndarray:
    """RGB uint8 (H, W, 3), decoded as ingestion decodes images."""
    path = Path(file)
    return to_rgb(RawTree(path.parent).open_image(path.name))


def read_frames(file: str) -> list[np.ndarray]:
    """Every frame of an image file (an animated GIF or WebP, a multi-page TIFF) as RGB
    uint8; a still image is one frame, decoded as :func:`read_image`."""
    with Image.open(file) as img:
        count = frames_of(img)
        if count == 1:
            return [read_image(file)]
        frames = []
        for index in range(count):
            img.seek(index)
            frames.append(to_rgb(img.copy()))
        return frames


def video_frames(file: str, every_s: float) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, time in s, RGB frame) every ``every_s`` seconds (the first frame
    included); every frame when ``every_s`` is 0."""
    import cv2

    capture = cv2.VideoCapture(file)
    if not capture.isOpened():
        raise ValueError("OpenCV cannot open it as a video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    fps = fps if fps > 0 else 25.0
    step = max(1, round(every_s * fps))
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                yield index, index / fps, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise ValueError("no frame could be decoded")


@dataclass(frozen=True)
class Frame:
    file: str
    frame: int | None  # None for a still image
    time_s: float | None
    rgb: np.ndarray


def iter_frames(media: Media, every_s: float) -> Iterator[Frame | dict]:
    """Each image, and each sampled video frame, in order; a reject dict where a file
    cannot be decoded (the rest go on)."""
    for file in media.files:
        if Path(file).suffix.lower() in VIDEO_SUFFIXES:
            try:
                for index, time_s, rgb in video_frames(file, every_s):
                    yield Frame(file, index, time_s, rgb)
            except Exception as exc:  # noqa: BLE001 - a reject naming the file
                yield _reject(file, "unreadable_video", f"{type(exc).__name__}: {exc}")
            continue
        try:
            frames = read_frames(file)
        except Exception as exc:  # noqa: BLE001 - a reject naming the file
            yield _reject(file, "unreadable_image", f"{type(exc).__name__}: {exc}")
            continue
        if len(frames) == 1:
            yield Frame(file, None, None, frames[0])
        else:  # an animation: every frame, numbered like a video's
            logger.info("%s: %d frames, each predicted", file, len(frames))
            yield from (Frame(file, i, None, rgb) for i, rgb in enumerate(frames))
