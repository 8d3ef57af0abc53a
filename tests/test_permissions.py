"""Outputs written atomically get the user's umask, not tempfile's 0600 / 0700."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from safetensors.numpy import save_file

from fer_da.datasets.atomic import atomic_dir, atomic_file
from fer_da.training.checkpoints import CheckpointStore


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_outputs_have_the_mode_of_the_umask(tmp_path, umask):
    with atomic_file(tmp_path / "metrics.csv") as tmp:
        tmp.write_text("a\n")
    assert _mode(tmp_path / "metrics.csv") == 0o666 & ~umask
    with atomic_dir(tmp_path / "models") as tmp:
        (tmp / "m.safetensors").write_bytes(b"x")
    assert _mode(tmp_path / "models") == 0o777 & ~umask
    assert _mode(tmp_path / "models" / "m.safetensors") == 0o666 & ~umask
    with atomic_dir(tmp_path / "faces") as tmp:  # safetensors writes 0600 files itself
        save_file({"images": np.zeros((2, 4, 4), np.uint8)}, str(tmp / "kdef.safetensors"))
        (tmp / "sub").mkdir(mode=0o700)
    assert _mode(tmp_path / "faces" / "kdef.safetensors") == 0o666 & ~umask
    assert _mode(tmp_path / "faces" / "sub") == 0o777 & ~umask
    with atomic_file(tmp_path / "serving.safetensors") as tmp:
        save_file({"w": np.zeros(3, np.float32)}, str(tmp))
    assert _mode(tmp_path / "serving.safetensors") == 0o666 & ~umask
    CheckpointStore(tmp_path / "ck").save("dann/r/seed0", {"epoch": 1})
    assert _mode(CheckpointStore(tmp_path / "ck").path("dann/r/seed0")) == 0o666 & ~umask


def test_links_inside_an_atomic_folder_are_neither_followed_nor_changed(tmp_path, umask):
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    os.chmod(outside, 0o600)
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "link").symlink_to(outside)
        (tmp / "dangling").symlink_to(tmp_path / "gone")
        (tmp / "f.txt").write_text("y")
    assert _mode(outside) == 0o600
    assert _mode(tmp_path / "out" / "f.txt") == 0o666 & ~umask
