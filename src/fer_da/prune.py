"""Retention of versioned outputs: ``uv run python -m fer_da.prune --keep 3``.

Removes old versions of every versioned dataset of the catalog (face sets, each setup's
models, inference outputs), keeping per dataset its ``keep`` newest versions, and always:
the latest version, every face-set version a kept model (or a serving model) was trained
on, and every model version a serving model was taken from. Says what it removes and how
much it frees; ``--dry-run`` only says. The planning is pure (:func:`plan_prune`); the
command reads the project's catalog to find the stores (docs/preprocessing.md, "Re-runs").
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Store:
    """One versioned dataset: ``folder/<version>/...``; ``kind`` is ``face_sets``,
    ``models`` or ``other``."""

    name: str
    folder: Path
    kind: str = "other"

    def versions(self) -> list[str]:
        """Existing versions, newest first (Kedro's timestamps sort by time)."""
        if not self.folder.is_dir():
            return []
        return sorted((p.name for p in self.folder.iterdir()  # as Kedro: <version>/<name>
                       if (p / self.folder.name).exists() and not p.name.startswith(".")),
                      reverse=True)  # an empty folder a failed save left is no version


@dataclass
class Plan:
    keep: dict[str, list[str]] = field(default_factory=dict)  # store name -> kept versions
    remove: list[tuple[Store, str, int]] = field(default_factory=list)  # store, version, bytes
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)  # why a version stays

    @property
    def freed(self) -> int:
        return sum(size for _, _, size in self.remove)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def model_references(folder: Path) -> dict[str, set[str]]:
    """What the model files under ``folder`` were trained on or taken from:
    ``{"faceset_version": {...}, "model_version": {...}}`` from their JSON metadata
    (no tensor is read)."""
    from safetensors import safe_open

    found: dict[str, set[str]] = {"faceset_version": set(), "model_version": set()}
    for f in sorted(folder.rglob("*.safetensors")):
        try:
            with safe_open(f, framework="np") as handle:
                meta = handle.metadata() or {}
        except Exception as exc:  # noqa: BLE001 - a foreign file: it references nothing
            logger.warning("prune: cannot read %s (%s); it keeps nothing", f, exc)
            continue
        provenance = meta.get("provenance", "{}")
        try:
            provenance = json.loads(provenance)
            if isinstance(provenance, str):  # serving files hold JSON-encoded values
                provenance = json.loads(provenance)
        except json.JSONDecodeError:
            continue
        for key, values in found.items():
            value = provenance.get(key) if isinstance(provenance, dict) else None
            if value:
                values.update(str(value).split("+"))
    return found


def plan_prune(stores: Sequence[Store], keep: int,
               serving_folders: Iterable[Path] = ()) -> Plan:
    """Which versions to remove. Per store: its ``keep`` newest stay; a face-set version
    stays while a kept model version (or a serving model) was trained on it, a model
    version while a serving model was taken from it; the latest always stays."""
    if keep < 1:
        raise ValueError(f"--keep must be at least 1 (the latest version always stays), "
                         f"got {keep}")
    plan = Plan()
    serving: dict[str, set[str]] = {"faceset_version": set(), "model_version": set()}
    for folder in serving_folders:
        if folder.exists():
            for key, values in model_references(folder).items():
                serving[key] |= values
    kept_models: dict[str, list[str]] = {}
    for store in stores:
        if store.kind != "models":
            continue
        versions = store.versions()
        kept = [v for i, v in enumerate(versions) if i < keep or v in serving["model_version"]]
        kept_models[store.name] = kept
        for i, v in enumerate(versions):
            if i >= keep and v in serving["model_version"]:
                plan.reasons[(store.name, v)] = "a serving model was taken from it"
    trained_on = set(serving["faceset_version"])
    for store in stores:
        if store.kind == "models":
            for v in kept_models[store.name]:
                trained_on |= model_references(store.folder / v)["faceset_version"]
    for store in stores:
        versions = store.versions()
        kept = []
        for i, v in enumerate(versions):
            if i < keep or (store.kind == "models" and v in kept_models[store.name]):
                kept.append(v)
            elif store.kind == "face_sets" and v in trained_on:
                kept.append(v)
                plan.reasons[(store.name, v)] = "a kept model was trained on it"
            else:
                plan.remove.append((store, v, folder_size(store.folder / v)))
        plan.keep[store.name] = kept
    return plan


def apply(plan: Plan) -> None:
    for store, version, _ in plan.remove:
        shutil.rmtree(store.folder / version)


def describe(plan: Plan, dry_run: bool) -> list[str]:
    verb = "would remove" if dry_run else "removed"
    lines = []
    for name, kept in plan.keep.items():
        gone = [v for s, v, _ in plan.remove if s.name == name]
        size = sum(b for s, _, b in plan.remove if s.name == name)
        extra = [f"{v} ({plan.reasons[(name, v)]})" for v in kept if (name, v) in plan.reasons]
        lines.append(f"{name}: keeps {len(kept)} version(s)"
                     + (f", among them {', '.join(extra)}" if extra else "")
                     + f"; {verb} {len(gone)} ({size / 1e6:.1f} MB)")
    lines.append(f"in all: {verb} {len(plan.remove)} version(s), "
                 f"{'would free' if dry_run else 'freed'} {plan.freed / 1e6:.1f} MB")
    return lines


def catalog_stores(project: Path, env: str | None) -> tuple[list[Store], list[Path]]:
    """The versioned datasets of every registered pipeline and the folders of the serving
    models, from the project's catalog (``env`` as ``kedro run --env``)."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io import AbstractVersionedDataset

    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env) as session:
        catalog = session.load_context().catalog
        names = sorted(set().union(*(p.datasets() for p in pipelines.values())))
        stores: dict[Path, Store] = {}
        serving: set[Path] = set()
        for name in names:
            if name.startswith("params:") or name == "parameters":
                continue
            dataset = catalog.get(name)
            if dataset is None:
                continue
            if isinstance(dataset, AbstractVersionedDataset):
                folder = Path(str(dataset._filepath))  # noqa: SLF001 - Kedro has no accessor
                folder = folder if folder.is_absolute() else project / folder
                kind = ("face_sets" if type(dataset).__name__ == "FaceSetsDataset" else
                        "models" if type(dataset).__name__ == "TrainedModelsDataset"
                        else "other")
                stores.setdefault(folder.resolve(), Store(name, folder, kind))
            elif type(dataset).__name__ == "ServingModelDataset":
                path = Path(str(dataset._filepath))  # noqa: SLF001
                serving.add((path if path.is_absolute() else project / path).parent)
    return list(stores.values()), sorted(serving)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_da.prune", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("--keep", type=int, default=3,
                        help="newest versions kept per dataset (at least 1; default 3)")
    parser.add_argument("--env", default=None, help="the Kedro env whose catalog to prune")
    parser.add_argument("--dry-run", action="store_true", help="say what would go; remove "
                        "nothing")
    parser.add_argument("--project", default=".", help="the project folder (default: here)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stores, serving = catalog_stores(Path(args.project).resolve(), args.env)
    plan = plan_prune(stores, args.keep, serving)
    for line in describe(plan, args.dry_run):
        logger.info("%s", line)
    if not args.dry_run:
        apply(plan)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
