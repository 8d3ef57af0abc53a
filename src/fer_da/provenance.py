"""Where a number comes from: digests of the code, the data and the configuration.

Pure functions (no Kedro): the package source digest covers every ``.py`` file of
``fer_da`` (a code change changes it; a doc file does not), the git commit and dirty flag
are added when the project is a git checkout, and data digests are over the exact arrays a
model saw.
"""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent


def source_digest(root: Path = PACKAGE) -> str:
    """sha256 (16 hex) over the relative paths and bytes of every ``.py`` file under ``root``."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def _package_digest() -> str:
    return source_digest(PACKAGE)


@lru_cache(maxsize=1)
def git_state(root: str = str(PACKAGE)) -> tuple[str, bool | None]:
    """(commit, dirty) of the checkout holding the package; ("", None) outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return "", None


def code_provenance() -> dict[str, Any]:
    """The code that runs now: package source digest, fer-da version, git commit, dirty."""
    from fer_da import __version__

    commit, dirty = git_state()
    return {"source_digest": _package_digest(), "fer_da_version": __version__,
            "git_commit": commit, "git_dirty": dirty}



