"""Raw dataset roots, real or synthetic, as one catalog entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from fer_da.ingest.tree import RawTree
from fer_da.synthetic import ensure_domain


class RawDomainsDataset(AbstractDataset[None, dict[str, RawTree]]):
    """Maps each domain name to its raw root.

    ``domains: {kdef: {path: data/01_raw/kdef}}`` reads a lab's files as distributed;
    adding ``synthetic: {preset: kdef, seed: 7}`` generates the embedded default there on
    first use (cached by a stamp; real folders are never overwritten). Read-only.
    """

    def __init__(self, domains: dict[str, dict[str, Any]], metadata: dict | None = None):
        for name, body in domains.items():
            if "path" not in body:
                raise DatasetError(f"raw domain {name!r} needs a 'path'")
        self._domains = domains
        self.metadata = metadata

    def load(self) -> dict[str, RawTree]:
        trees = {}
        for name, body in self._domains.items():
            path = Path(body["path"])
            if body.get("synthetic"):
                ensure_domain(path, **body["synthetic"])
            trees[name] = RawTree(path)
        return trees

    def save(self, data: None) -> None:
        raise DatasetError("raw data is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"domains": {k: v["path"] for k, v in self._domains.items()}}

    def _exists(self) -> bool:
        return all(Path(b["path"]).exists() or b.get("synthetic") for b in self._domains.values())
