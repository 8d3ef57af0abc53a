"""Raw dataset roots, real or synthetic, as one catalog entry."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from fer_da.ingest.tree import RawTree
from fer_da.synthetic import PRESETS, ensure_domain

logger = logging.getLogger(__name__)
STAND_IN_KEYS = ("preset", "seed", "subjects", "path")


class RawDomainsDataset(AbstractDataset[None, dict[str, RawTree]]):
    """Maps each domain name to its raw root.

    ``domains: {kdef: {path: data/01_raw/kdef}}`` reads a lab's files as distributed;
    adding ``synthetic: {preset: kdef, seed: 7}`` generates the embedded default there on
    first use (cached by a stamp; real folders are never overwritten).
    ``stand_in: {preset: rafdb, seed: 7, path: data/01_raw/stand_ins/rafdb}`` reads ``path``
    when it exists and otherwise generates a synthetic stand-in at the stand-in's own path,
    with a warning (``conf/cdfer``): the protocol table's ``data`` column and the report say
    which domains were stand-ins. Read-only.
    """

    def __init__(self, domains: dict[str, dict[str, Any]], metadata: dict | None = None):
        for name, body in domains.items():
            if "path" not in body:
                raise DatasetError(f"raw domain {name!r} needs a 'path'")
            stand_in = body.get("stand_in")
            if stand_in is not None:
                unknown = sorted(set(stand_in) - set(STAND_IN_KEYS))
                if unknown or "preset" not in stand_in or "path" not in stand_in:
                    raise DatasetError(f"raw domain {name!r}: stand_in needs preset and path "
                                       f"(keys {list(STAND_IN_KEYS)}); got {sorted(stand_in)}")
                if stand_in["preset"] not in PRESETS:
                    raise DatasetError(f"raw domain {name!r}: stand_in.preset "
                                       f"{stand_in['preset']!r} is none of {sorted(PRESETS)}")
                if Path(stand_in["path"]) == Path(body["path"]):
                    raise DatasetError(f"raw domain {name!r}: stand_in.path must differ from "
                                       "path (a lab's files are never mixed with generated "
                                       "ones)")
        self._domains = domains
        self.metadata = metadata
        self._warned: set[str] = set()  # a run loads the raw trees twice: one warning each

    def load(self) -> dict[str, RawTree]:
        trees = {}
        for name, body in self._domains.items():
            path = Path(body["path"])
            if body.get("synthetic"):
                ensure_domain(path, **body["synthetic"])
            elif body.get("stand_in") and not path.exists():
                spec = dict(body["stand_in"])
                path = Path(spec.pop("path"))
                if name not in self._warned:
                    self._warned.add(name)
                    logger.warning("raw domain %r: %s does not exist; reading a synthetic "
                                   "stand-in (preset %r) from %s instead. Its numbers are "
                                   "marked as stand-ins in the report; put the dataset at "
                                   "%s to use it.", name, body["path"], spec["preset"], path,
                                   body["path"])
                ensure_domain(path, **spec)
            trees[name] = RawTree(path)
        return trees

    def save(self, data: None) -> None:
        raise DatasetError("raw data is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"domains": {k: v["path"] for k, v in self._domains.items()}}

    def _exists(self) -> bool:
        return all(Path(b["path"]).exists() or b.get("synthetic") or b.get("stand_in")
                   for b in self._domains.values())
