"""Atomic saves: write beside the target, then rename. A full disk or a kill during a save
leaves the previous output intact, and the error names the path."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kedro.io import DatasetError

from fer_da.permissions import as_if_created, tree_as_if_created


@contextmanager
def _named(path: Path) -> Iterator[None]:
    """An OSError before anything is written (a read-only or full folder) names ``path``."""
    try:
        yield
    except OSError as exc:
        raise DatasetError(f"could not write {path}: {type(exc).__name__}: {exc}; the previous "
                           "output (if any) is unchanged") from exc


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``."""
    path = Path(path)
    with _named(path):  # unique across processes and hosts sharing the folder
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                        dir=path.parent)
        os.close(handle)
        as_if_created(name)
    tmp = Path(name)
    try:
        yield tmp
        tree_as_if_created(tmp)  # whatever the writer did to the file's mode
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DatasetError(f"could not write {path}: {type(exc).__name__}: {exc}; the previous "
                           "file (if any) is unchanged") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_file(path: str | Path, write: Callable[[Path], None]) -> None:
    with atomic_file(path) as tmp:
        write(tmp)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path``."""
    path = Path(path)
    with _named(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        as_if_created(tmp, directory=True)
    old = tmp.with_name(tmp.name[:-len(".tmp")] + ".old")
    try:
        yield tmp
        tree_as_if_created(tmp)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)
        raise DatasetError(f"could not write {path}: {type(exc).__name__}: {exc}; the previous "
                           "output (if any) is unchanged") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
