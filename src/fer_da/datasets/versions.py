"""Content-addressed versions: a save whose content equals the latest version's writes
nothing and reuses that version (an unchanged re-run leaves nothing new behind)."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from functools import wraps
from pathlib import Path
from typing import Any

from kedro.io import AbstractVersionedDataset

logger = logging.getLogger(__name__)
_WARNINGS_LOCK = threading.Lock()


def _is_own_mismatch(message: str, dataset: Any) -> bool:
    """Kedro's save/load version warning about ``dataset`` itself (not another dataset
    saved meanwhile by another thread, whose warning is passed on)."""
    return "did not match load version" in message and f"for {dataset}." in message

DIGEST_FILE = "content.sha256"  # inside each version's folder: the digest of what it holds
FILES_DIGEST = "files.sha256"  # and each file's sha256 (``sha256sum`` format), checked on load
_VERIFIED: dict[tuple, bool] = {}  # (path, size, mtime_ns, inode, ctime_ns, sha256): checked


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, streamed (1 MiB at a time)."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_file_digests(folder: Path) -> None:
    """Record the sha256 of every file of a version folder (:data:`FILES_DIGEST`)."""
    names = sorted(p.name for p in folder.iterdir()
                   if p.is_file() and p.name not in (DIGEST_FILE, FILES_DIGEST))
    (folder / FILES_DIGEST).write_text("".join(f"{file_sha256(folder / n)}  {n}\n"
                                               for n in names))


def recorded_files(folder: str | Path) -> dict[str, str] | None:
    """name -> sha256 a version folder was saved with (None: saved before they were)."""
    try:
        text = (Path(folder) / FILES_DIGEST).read_text()
    except OSError:
        return None
    return {name: digest for digest, _, name in (ln.partition("  ") for ln in text.splitlines())
            if name}


def damaged_file(folder: str | Path) -> str | None:
    """What is wrong with a version folder's files (a recorded file missing, or its bytes no
    longer those it was saved with), naming the file; None when each matches (or the version
    records no per-file digests). Each file is hashed once per process while its size,
    modification and change times and inode stay the same."""
    for name, digest in (recorded_files(folder) or {}).items():
        path = Path(folder) / name
        try:
            st = os.stat(path)
        except OSError:
            return f"{path} is missing"
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, digest)
        if key not in _VERIFIED:
            _VERIFIED[key] = file_sha256(path) == digest
        if not _VERIFIED[key]:
            return f"{path} does not match the sha256 recorded when it was saved"
    return None


def recorded_digest(folder: str | Path) -> str | None:
    """The content digest a version folder was saved with (None: saved before digests)."""
    path = Path(folder) / DIGEST_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class ContentVersioned(AbstractVersionedDataset):
    """Mixin for a versioned dataset saved as a folder. Subclasses implement
    :meth:`content_digest` and :meth:`_write` (into a fresh folder). A save whose digest
    equals the latest version's is not written: the log says ``unchanged, reusing
    <version>`` and a load in the same run reads that version. Only the latest version is
    reused, so "the latest version" stays what a later run loads."""

    _reused: str | None = None

    def content_digest(self, data: Any) -> str:
        raise NotImplementedError

    def _write(self, folder: Path, data: Any) -> None:
        raise NotImplementedError

    def _intact(self, folder: Path) -> bool:
        """Whether a version folder still holds what it was saved with (a damaged latest
        version is never reused: the save writes a new one)."""
        return damaged_file(folder) is None

    def _latest_version(self) -> tuple[str, Path] | None:
        versions = self._get_versions()
        if not versions:
            return None
        path = Path(versions[0])
        return path.parent.name, path

    def save(self, data: Any) -> None:
        from fer_da.datasets.atomic import atomic_dir

        self._reused = None
        digest = self.content_digest(data)
        latest = None if self._version is None else self._latest_version()
        if (latest is not None and recorded_digest(latest[1]) == digest
                and self._intact(latest[1])):
            self._reused = latest[0]
            logger.info("%s unchanged, reusing %s", self._filepath, latest[0])
            return
        with atomic_dir(self._get_save_path()) as folder:
            self._write(folder, data)
            write_file_digests(folder)
            (folder / DIGEST_FILE).write_text(digest + "\n")

    def resolve_load_version(self) -> str | None:
        if self._reused is not None and self._version is not None and not self._version.load:
            return self._reused
        return super().resolve_load_version()

    @classmethod
    def _save_wrapper(cls, save_func):
        inner = super()._save_wrapper(save_func)

        @wraps(save_func)  # __wrapped__ is the plain save: a subclass re-wraps that, once
        def save(self, data: Any) -> None:
            # catch_warnings changes process-wide state: one such save at a time (ThreadRunner)
            with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                inner(self, data)
            for w in caught:  # a reused version is meant to differ from the save version
                if self._reused is not None and _is_own_mismatch(str(w.message), self):
                    continue
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

        save.__savewrapped__ = True
        return save
