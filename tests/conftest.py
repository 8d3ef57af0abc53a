"""Shared fixtures: tiny images on disk and tiny in-memory face sets."""

from __future__ import annotations

import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from fer_da.facesets import FaceSet
from fer_da.labels import CANONICAL_LABELS

if "mutmut" in sys.modules:
    # mutmut forks one test process per mutant from the process that ran the suite: torch's
    # OpenMP pool does not survive a fork (the children hang until mutmut's time limit marks
    # them timeouts), so under mutmut torch never starts one (docs/training.md).
    torch.set_num_threads(1)


def write_image(path: Path, mode: str = "RGB", size: tuple[int, int] = (24, 20),
                fmt: str | None = None, value: int = 120, unique: bool = True) -> Path:
    """A flat image; ``unique``: two pixels derived from the path make its bytes its own
    (ingestion rejects identical bytes under two names as duplicates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode in ("I;16",):
        img = Image.new("I;16", size)
        img.putdata([value * 257] * (size[0] * size[1]))
    else:
        img = Image.new(mode, size, value if mode in ("L", "I") else (value,) * len(mode))
    if unique:
        h = zlib.crc32(str(path).encode())
        for i, xy in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
            v = (h >> (8 * i)) & 255
            if mode == "I;16":
                img.putpixel(xy, v * 257)
            elif len(img.getbands()) == 1:
                img.putpixel(xy, v)
            else:
                img.putpixel(xy, (v,) * len(img.getbands()))
    img.save(path, format=fmt)
    return path


def make_face_sets(domains=("src", "tgt"), per_label: int = 4, size: int = 32,
                   seed: int = 0) -> dict[str, FaceSet]:
    """Random images whose mean brightness depends on the label (learnable, tiny)."""
    rng = np.random.default_rng(seed)
    out = {}
    for d_i, name in enumerate(domains):
        rows, images = [], []
        for li, label in enumerate(CANONICAL_LABELS):
            for k in range(per_label):
                base = 20 + li * 30 + d_i * 7
                images.append(np.clip(rng.normal(base, 10, (size, size)), 0, 255)
                              .astype(np.uint8))
                rows.append({"image_id": f"{name}/{label}{k}", "domain": name,
                             "role": "source" if d_i == 0 else "target",
                             "subject": f"s{k}", "label": label, "label_idx": li,
                             "split": "val" if k == 0 else "train"})
        out[name] = FaceSet(np.stack(images), pd.DataFrame(rows))
    return out


@pytest.fixture
def face_sets() -> dict[str, FaceSet]:
    return make_face_sets()


PROJECT = Path(__file__).resolve().parents[1]
TINY_SUBJECTS = {"kdef": 6, "ckplus": 5, "jaffe": 5, "tfeid": 5}


def make_tiny_project(root: Path, training: dict | None = None) -> Path:
    """A Kedro project at ``root`` (the installed package, ``conf/base`` copied) with an env
    ``tiny``: the synthetic default with fewer subjects and two short epochs."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir(exist_ok=True)  # a Kedro project; the package is the installed one
    shutil.copytree(PROJECT / "conf" / "base", root / "conf" / "base")
    shutil.copytree(PROJECT / "conf" / "synthetic", root / "conf" / "synthetic")  # the default
    (root / "conf" / "local").mkdir()
    tiny = root / "conf" / "tiny"
    tiny.mkdir()
    domains = {d: {"path": f"data/01_raw/synthetic/{d}",
                   "synthetic": {"preset": d, "seed": 7, "subjects": n}}
               for d, n in TINY_SUBJECTS.items()}
    (tiny / "catalog.yml").write_text(yaml.safe_dump({"raw_domains": {
        "type": "fer_da.datasets.RawDomainsDataset", "domains": domains}}))
    synthetic = yaml.safe_load((PROJECT / "conf" / "synthetic" / "parameters.yml").read_text())
    (tiny / "parameters.yml").write_text(yaml.safe_dump({  # the synthetic default's recipe
        "evaluation": synthetic["evaluation"], "training": {
            **synthetic["training"], "epochs": 2, "batch_size": 16, "tap_dim": 8,
            "hidden": 16, "device": "cpu", **(training or {})}}))
    return root


def run_in_project(root: Path, env: str, pipeline: str, params: dict | None = None) -> None:
    """``kedro run --env <env> --pipelines=<pipeline>`` in the project at ``root``, in-process."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("KEDRO_DISABLE_TELEMETRY", "1")
        bootstrap_project(PROJECT)
        with KedroSession.create(root, env=env, runtime_params=params) as session:
            session.run(pipeline_names=[pipeline])


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A copy of the project on the synthetic default (fewer subjects, two short epochs),
    with the baseline trained: what a lab has after ``kedro run --pipelines=baseline``."""
    root = make_tiny_project(tmp_path_factory.mktemp("project"))
    run_in_project(root, "tiny", "baseline")
    return root
