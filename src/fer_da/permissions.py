"""Files and folders made through ``tempfile`` (0600 / 0700 whatever the umask) get the mode
an ordinary ``open`` or ``mkdir`` would give them, so that outputs written atomically are
readable by whoever the user's umask lets read them (a lab group on a shared server)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back, under a lock)."""
    with _LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def as_if_created(path: str | Path, directory: bool = False, umask: int | None = None
                  ) -> None:
    """Give ``path`` the mode ``open``/``mkdir`` would have: 0666 / 0777 less the umask."""
    mask = current_umask() if umask is None else umask
    os.chmod(path, (0o777 if directory else 0o666) & ~mask)


def tree_as_if_created(root: str | Path) -> None:
    """``as_if_created`` for ``root`` and everything under it: a library may write through
    a temporary file of its own and rename it (safetensors 0.8 leaves 0600 files)."""
    root, mask = Path(root), current_umask()
    if root.is_dir():
        for folder, dirs, files in os.walk(root):  # links are neither followed nor changed
            for name, directory in [(d, True) for d in dirs] + [(f, False) for f in files]:
                path = Path(folder) / name
                if not path.is_symlink():
                    as_if_created(path, directory, mask)
    if not root.is_symlink():
        as_if_created(root, root.is_dir(), mask)
