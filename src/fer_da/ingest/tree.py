"""Read access to one raw dataset root: its file listing, bytes and images."""

from __future__ import annotations

import hashlib
import io
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"})
IGNORED_NAMES = frozenset({".fer_da_synthetic.json"})  # the generator's stamp, not data
ROW_REF = re.compile(r"^(?P<file>.+)#row=(?P<row>\d+)$")
DOCS_HINT = "see docs/datasets.md (where each dataset goes) and docs/labs.md (a lab's conf/)"


class RawTree:
    """A dataset root on disk. Paths are POSIX strings relative to the root."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._files: list[str] | None = None

    def check(self) -> RawTree:
        """Fail clearly on a missing or empty root."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"raw dataset root {self.root} does not exist; {DOCS_HINT}")
        if not self.files:
            raise FileNotFoundError(f"raw dataset root {self.root} holds no file; {DOCS_HINT}")
        return self

    @property
    def files(self) -> list[str]:
        """All regular files, sorted; listed once per tree (each catalog load makes a new one)."""
        if self._files is None:
            self._files = _listing(self.root)
        return self._files

    def read_bytes(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def read_text(self, rel: str) -> str:
        return self.read_bytes(rel).decode("utf-8", errors="replace")

    def content_hash(self, ref: str) -> str:
        """sha256 of what an image reference points at (file bytes, or a FER2013 row)."""
        match = ROW_REF.match(ref)
        if match:
            data = _fer2013_pixels(self.root / match["file"])[int(match["row"])].tobytes()
        else:
            data = self.read_bytes(ref)
        return hashlib.sha256(data).hexdigest()

    def open_image(self, ref: str) -> Image.Image:
        """Decode an image reference: a file, or ``file.csv#row=N`` for FER2013 pixel rows."""
        match = ROW_REF.match(ref)
        if match:
            pixels = _fer2013_pixels(self.root / match["file"])[int(match["row"])]
            return Image.fromarray(pixels, "L")
        with Image.open(io.BytesIO(self.read_bytes(ref))) as img:
            img.load()
            return img.copy()


def _listing(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and p.name not in IGNORED_NAMES)


def parse_pixel_string(text: str, side: int = 48) -> np.ndarray:
    """FER2013 ``pixels`` field: ``side*side`` space-separated grey values."""
    values = np.array(text.split(), dtype=np.int64)
    if values.size != side * side or values.min() < 0 or values.max() > 255:
        raise ValueError(f"expected {side * side} values in 0..255, got {values.size}")
    return values.astype(np.uint8).reshape(side, side)


@lru_cache(maxsize=4)
def _fer2013_pixels_cached(path: str, mtime_ns: int) -> dict[int, np.ndarray]:
    import pandas as pd

    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = {}
    for i, text in enumerate(table["pixels"]):
        try:
            out[i] = parse_pixel_string(text)
        except ValueError:
            continue
    return out


def _fer2013_pixels(path: Path) -> dict[int, np.ndarray]:
    return _fer2013_pixels_cached(str(path), path.stat().st_mtime_ns)
