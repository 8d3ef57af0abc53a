"""Read access to one raw dataset root: its file listing, bytes and images."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from fer_da.ingest.numbers import DECIMAL, finite_number, plain_number

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"})
SYNTHETIC_STAMP = ".fer_da_synthetic.json"  # written by fer_da.synthetic beside its files
IGNORED_NAMES = frozenset({SYNTHETIC_STAMP})  # the generator's stamp, not data
LINE_REF = re.compile(r"^(?P<file>.+)#line=(?P<line>\d+)$")
# one face of a file with several (ExpW, AffectNet): its box in pixels, left,top,right,bottom
# (any number finite_number reads: 1e+06 and 1e-05 too, so every accepted box reads back)
BOX_REF = re.compile(rf"^(?P<file>.+)#box=(?P<box>{DECIMAL.pattern}(?:,{DECIMAL.pattern}){{3}})$",
                     re.ASCII)


def is_member(ref: str) -> bool:
    """Whether a reference names part of a file (a FER2013 row, a face box), not a file."""
    return bool(LINE_REF.match(ref) or BOX_REF.match(ref))


def member_file(ref: str) -> str:
    """The file a member reference is part of (the reference itself otherwise)."""
    match = LINE_REF.match(ref) or BOX_REF.match(ref)
    return match["file"] if match else ref


def box_ref(rel: str, left: float, top: float, right: float, bottom: float) -> str:
    """The reference of one face of ``rel``: ``rel#box=left,top,right,bottom``."""
    return f"{rel}#box={','.join(plain_number(v) for v in (left, top, right, bottom))}"


DOCS_HINT = "see docs/datasets.md (where each dataset goes) and docs/labs.md (a lab's conf/)"


@dataclass(frozen=True)
class ListingProblem:
    """An entry of the tree that is not a readable regular file (it becomes a reject)."""

    path: str
    reason: str
    detail: str


class RawTree:
    """A dataset root on disk. Paths are POSIX strings relative to the root.

    Symbolic links inside the root are followed when they stay inside it (a link that leads
    back into a folder already listed is a ``folder_listed_twice`` problem, so loops end); a
    link pointing outside the root is a ``link_outside_root`` problem naming its target (the
    root itself may be a link). Broken links, unreadable folders, special files and names
    that are not UTF-8 (``non_utf8_name``, the bytes shown escaped) are :attr:`problems`,
    never skipped silently.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._files: list[str] | None = None
        self._problems: list[ListingProblem] = []
        self._last: tuple[str, Image.Image] | None = None  # the photo whose faces are read

    @property
    def synthetic(self) -> bool:
        """Whether fer-da's generator wrote this root (its stamp is there): a stand-in."""
        return (self.root / SYNTHETIC_STAMP).is_file()

    def check(self) -> RawTree:
        """Fail clearly on a missing or empty root."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"raw dataset root {self.root} does not exist; {DOCS_HINT}")
        if not self.files and not self.problems:
            raise FileNotFoundError(f"raw dataset root {self.root} holds no file; {DOCS_HINT}")
        return self

    def _list(self) -> None:
        if self._files is None:
            self._files, self._problems = _listing(self.root)

    @property
    def files(self) -> list[str]:
        """All regular files, sorted; listed once per tree (each catalog load makes a new one)."""
        self._list()
        return self._files

    @property
    def problems(self) -> list[ListingProblem]:
        self._list()
        return self._problems

    def read_bytes(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def read_text(self, rel: str) -> str:
        """A label or index file as UTF-8 text (a byte-order mark stripped); a folder, an
        unreadable file or another encoding is a ``ValueError`` naming the file."""
        return decode_text(self.read_metadata(rel), str(self.root / rel))

    def read_metadata(self, rel: str) -> bytes:
        """The bytes of a label or index file; a folder in its place or a file that cannot
        be read is a ``ValueError`` naming it and saying what to do."""
        path = self.root / rel
        if path.is_dir():
            raise ValueError(f"{path} is a folder; the layout reads a label/index file there "
                             "(docs/datasets.md)")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the label/index file {path}: "
                             f"{type(exc).__name__}: {exc.strerror or exc}; check that it "
                             "is a readable file") from exc

    def has_metadata(self, rel: str) -> bool:
        """Whether the label/index file ``rel`` is there (a folder of that name is an error
        naming it, never taken as "absent")."""
        if rel in set(self.files):
            return True
        if (self.root / rel).is_dir():
            self.read_metadata(rel)  # raises, naming the folder
        return False

    def content_bytes(self, ref: str) -> bytes:
        """What an image reference points at: file bytes, or a FER2013 row's pixels."""
        match = LINE_REF.match(ref)
        if match:
            return _fer2013_pixels(self.root / match["file"])[int(match["line"])].tobytes()
        if BOX_REF.match(ref):  # the face's pixels: two faces of one photo are two images
            face = self.open_image(ref)
            return f"{face.mode}{face.size}".encode() + face.tobytes()
        return self.read_bytes(ref)

    def signature(self, ref: str) -> tuple[int, int, int, int] | None:
        """(size, mtime_ns, inode, ctime_ns) of the file an image reference reads (a FER2013
        row: its csv), followed through links; None when it cannot be stat-ed. While it is
        unchanged, ingestion trusts what it read before (docs/preprocessing.md, "Re-runs"):
        the change time moves with any write, even one that restores the modification time."""
        match = LINE_REF.match(ref) or BOX_REF.match(ref)
        try:
            st = os.stat(self.root / (match["file"] if match else ref))
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns

    def content_hash(self, ref: str) -> str:
        """sha256 of what an image reference points at (file bytes, or a FER2013 row)."""
        return hashlib.sha256(self.content_bytes(ref)).hexdigest()

    def open_image(self, ref: str, data: bytes | None = None) -> Image.Image:
        """Decode an image reference: a file (EXIF orientation applied), or
        ``file.csv#line=N`` for a FER2013 pixel row. ``data``: the bytes, when already read."""
        match = LINE_REF.match(ref)
        if match:
            pixels = _fer2013_pixels(self.root / match["file"])[int(match["line"])]
            return Image.fromarray(pixels, "L")
        if match := BOX_REF.match(ref):  # faces of one photo come one after the other
            if self._last is None or self._last[0] != match["file"]:
                self._last = (match["file"], self.open_image(match["file"]))
            return _face_region(self._last[1], match["box"], ref)
        with open_checked(io.BytesIO(self.read_bytes(ref) if data is None else data),
                          ref) as img:
            img.load()
            return ImageOps.exif_transpose(img)  # a copy, rotated as the camera meant


class OversizedImageError(ValueError):
    """An image with more pixels than Pillow's decompression-bomb limit allows."""


def open_checked(source, name: str) -> Image.Image:
    """``Image.open`` refusing, before decoding, an image over Pillow's pixel limit
    (``Image.MAX_IMAGE_PIXELS``, about 89 Mpx; a decompression bomb) with an
    :class:`OversizedImageError` naming ``name`` and its size."""
    limit = Image.MAX_IMAGE_PIXELS
    try:
        img = Image.open(source)
    except Image.DecompressionBombError as exc:
        raise OversizedImageError(f"{name}: {exc} Resize it.") from exc
    if limit and img.width * img.height > limit:
        size = f"{img.width}x{img.height}"
        img.close()
        raise OversizedImageError(f"{name}: {size} pixels is over the {limit} pixel limit "
                                  "(a decompression bomb or a scan far larger than a face "
                                  "needs); resize it")
    return img


def _face_region(img: Image.Image, box: str, ref: str) -> Image.Image:
    """The box of a face, clipped to the image; an empty one is an error naming it."""
    left, top, right, bottom = (finite_number(v, f"{ref}: a box coordinate")
                                for v in box.split(","))
    clipped = (max(0, round(left)), max(0, round(top)), min(img.width, round(right)),
               min(img.height, round(bottom)))
    if clipped[2] - clipped[0] < 2 or clipped[3] - clipped[1] < 2:
        raise ValueError(f"{ref}: the face box lies outside the {img.width}x{img.height} "
                         "image or is empty")
    return img.crop(clipped)


def _listing(root: Path) -> tuple[list[str], list[ListingProblem]]:
    files: list[str] = []
    problems: list[ListingProblem] = []
    if not root.is_dir():
        return files, problems
    visited: set[str] = set()
    top = os.path.realpath(root)

    def outside(path: str) -> str | None:
        """Where a link leads when that is outside the root, else None."""
        real = os.path.realpath(path)
        return None if real == top or real.startswith(top + os.sep) else real

    def walk(folder: str, rel: str) -> None:
        real = os.path.realpath(folder)
        if real in visited:
            problems.append(ListingProblem(rel, "folder_listed_twice",
                                           f"a link to {real}, which is already listed"))
            return
        visited.add(real)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(ListingProblem(rel or ".", "unreadable_folder",
                                           f"{type(exc).__name__}: {exc.strerror or exc}"))
            return
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            if not _utf8(path):
                shown = os.fsencode(path).decode("utf-8", "backslashreplace")
                problems.append(ListingProblem(shown, "non_utf8_name",
                                               f"the name's bytes are not UTF-8: "
                                               f"{os.fsencode(entry.name)!r}; rename it"))
                continue
            try:
                target = outside(entry.path) if entry.is_symlink() else None
                if target is not None and os.path.exists(entry.path):
                    problems.append(ListingProblem(path, "link_outside_root",
                                                   f"a link to {target}, outside the root "
                                                   f"{top}; link the root itself instead"))
                elif entry.is_dir(follow_symlinks=True):
                    walk(entry.path, path)
                elif entry.is_file(follow_symlinks=True):
                    if entry.name not in IGNORED_NAMES:
                        files.append(path)
                elif entry.is_symlink():
                    problems.append(ListingProblem(path, "broken_link",
                                                   f"points to {os.readlink(entry.path)}"))
                else:
                    problems.append(ListingProblem(path, "not_a_file", "a special file"))
            except OSError as exc:
                problems.append(ListingProblem(path, "unreadable_entry",
                                               f"{type(exc).__name__}: {exc.strerror or exc}"))

    walk(str(root), "")
    return sorted(files), problems


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir maps undecodable bytes to lone surrogates
        return False
    return True


ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP", "TIFF"})  # GIF, APNG, WebP, multi-page


def frames_of(img: Image.Image) -> int:
    """The frames of an opened image that are pictures of their own: an animation's or a
    multi-page file's. A JPEG's MPF preview or depth map (Pillow's ``MPO``, written by many
    phones and cameras) is not a second picture: one frame."""
    if img.format not in ANIMATED_FORMATS:
        return 1
    return int(getattr(img, "n_frames", 1))


def frame_count(data: bytes) -> int:
    """How many frames an image file holds (animated GIF/PNG/WebP, multi-page TIFF: > 1)."""
    with open_checked(io.BytesIO(data), "image") as img:
        return frames_of(img)


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 text with its byte-order mark stripped; UTF-16 or bytes that are not UTF-8
    (a Latin-1 file) are a ``ValueError`` naming ``name``, the line and what to do."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"{name} is UTF-16 text; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{name} line {line}: byte {data[exc.start]:#04x} is not UTF-8 (the "
                         "file is in another encoding, e.g. Latin-1); save it as UTF-8"
                         ) from exc


def parse_pixel_string(text: str, side: int = 48) -> np.ndarray:
    """FER2013 ``pixels`` field: ``side*side`` space-separated grey values."""
    try:
        values = np.array(text.split(), dtype=np.int64)
    except OverflowError as exc:
        raise ValueError(f"a pixel value overflows: {exc}") from exc
    if values.size != side * side:
        raise ValueError(f"expected {side * side} pixel values, got {values.size}")
    if values.min() < 0 or values.max() > 255:
        raise ValueError(f"pixel values must be 0..255, got {values.min()}..{values.max()}")
    return values.astype(np.uint8).reshape(side, side)


def read_csv_lines(data: bytes, name: str) -> tuple[list[str], list[tuple[int, dict[str, str]]],
                                                     list[tuple[int, str]]]:
    """A CSV file read line by line: (header, [(line, record)], [(line, problem)]).

    A line with the wrong number of fields or an unclosed quote is a problem of that line;
    the others are read. Line numbers are 1-based (the header is line 1).
    """
    lines = decode_text(data, name).splitlines()
    if not lines:
        raise ValueError(f"{name} is empty")
    try:
        header = [h.strip() for h in next(csv.reader([lines[0]], strict=True))]
    except csv.Error as exc:
        raise ValueError(f"{name} line 1 (the header) is not valid CSV: {exc}") from exc
    records, bad = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            fields = next(csv.reader([line], strict=True))
        except csv.Error as exc:
            bad.append((number, f"not valid CSV ({exc})"))
            continue
        if len(fields) != len(header):
            bad.append((number, f"{len(fields)} fields where the header has {len(header)}"))
            continue
        records.append((number, dict(zip(header, fields, strict=True))))
    return header, records, bad


@lru_cache(maxsize=4)
def _fer2013_pixels_cached(path: str, mtime_ns: int) -> dict[int, np.ndarray]:
    _, records, _ = read_csv_lines(Path(path).read_bytes(), path)
    out = {}
    for line, rec in records:
        try:
            out[line] = parse_pixel_string(rec.get("pixels", ""))
        except ValueError:
            continue
    return out


def _fer2013_pixels(path: Path) -> dict[int, np.ndarray]:
    return _fer2013_pixels_cached(str(path), path.stat().st_mtime_ns)
