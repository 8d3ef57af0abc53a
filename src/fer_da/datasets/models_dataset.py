"""Trained models as safetensors state dicts, with their plan, config and history as metadata."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset, DatasetError, Version
from safetensors import safe_open
from safetensors.torch import save_file

from fer_da.datasets.atomic import atomic_file
from fer_da.datasets.versions import ContentVersioned
from fer_da.digest import model_digest
from fer_da.training.checkpoints import CheckpointStore, safe_name
from fer_da.training.config import RESULT_NEUTRAL_KEYS
from fer_da.training.trained import TrainedModel

if TYPE_CHECKING:
    from fer_da.inference.serving import ServingModel

logger = logging.getLogger(__name__)


def _metadata(run_id: str, model: TrainedModel) -> dict[str, str]:
    """A model file's JSON metadata: everything but the weights, and the digest of the
    weights with the class names, model config and plan (checked at load)."""
    meta = {"run_id": run_id, "plan": json.dumps(model.plan),
            "model_config": json.dumps(model.model_config),
            "history": json.dumps(model.history), "provenance": json.dumps(model.provenance),
            "digest": model_digest(model.state, _meaning(model.classes, model.model_config,
                                                         plan=model.plan))}
    if model.classes is not None:
        meta["classes"] = json.dumps(model.classes)
    return meta


def _meaning(classes: list[str] | None, model_config: dict[str, Any],
             **more: Any) -> dict[str, Any]:
    return {"classes": classes, "model_config": model_config, **more}


def _verify(path: Path, meta: dict[str, Any], state: dict[str, Any],
            meaning: dict[str, Any]) -> None:
    """A file whose weights or class names changed since it was saved is refused; a file
    saved before digests were recorded is loaded with a warning."""
    recorded = meta.get("digest")
    if recorded is None:
        logger.warning("%s records no digest (saved by an older fer-da): its weights cannot "
                       "be verified", path)
        return
    if model_digest(state, meaning) != recorded:
        raise DatasetError(f"the model file {path} does not match the digest recorded when "
                           "it was saved: its weights or metadata (class names, config) "
                           "changed since; it is corrupt or was edited — retrain or restore it")
    classes, n = meaning.get("classes"), meaning["model_config"].get("n_classes")
    if classes is not None and n is not None and len(classes) != int(n):
        raise DatasetError(f"the model file {path} names {len(classes)} classes for "
                           f"{n} outputs")


# provenance fields that do not change what a model is: a doc-only commit or the folder it
# was loaded from leaves an unchanged run's version in place (it was trained at that commit)
VOLATILE_PROVENANCE = frozenset({"git_commit", "git_dirty", "model_version"})
VOLATILE_HISTORY = frozenset({"seconds", "images_per_s"})  # timings of an epoch


def models_digest(data: dict[str, TrainedModel]) -> str:
    """sha256 of a models version: per run its weights digest (with classes, config, plan),
    history (less its timings) and provenance (less :data:`VOLATILE_PROVENANCE`)."""
    h = hashlib.sha256()
    for run_id, model in sorted(data.items()):
        meta = _metadata(run_id, model)
        provenance = {k: v for k, v in model.provenance.items()
                      if k not in VOLATILE_PROVENANCE}
        history = [{k: v for k, v in epoch.items() if k not in VOLATILE_HISTORY}
                   for epoch in model.history]
        h.update(json.dumps([run_id, meta["digest"], history, provenance],
                            sort_keys=True, default=str).encode())
    return h.hexdigest()


class TrainedModelsDataset(ContentVersioned):
    """``{run_id: TrainedModel}`` as one ``.safetensors`` file per run, versioned like the
    face sets: ``<path>/<version>/<name>/<run>.safetensors``. A run never overwrites an
    earlier one; the latest is loaded by default, an earlier one with
    ``--load-versions <setup>.models:<version>``. A save identical to the latest version
    (:func:`models_digest`: an unchanged re-run resumed from its finished checkpoints)
    writes nothing and reuses it.

    Loading never unpickles: tensors come from safetensors, the rest is JSON metadata
    (plan, model config, history and provenance).
    """

    def __init__(self, path: str, version: Version | None = None,
                 metadata: dict | None = None):
        super().__init__(PurePosixPath(path), version)
        self.metadata = metadata

    def content_digest(self, data: dict[str, TrainedModel]) -> str:
        if not data:  # an empty version would become the latest and hide the trained ones
            raise DatasetError(f"no trained model to save under {self._filepath}: the setup "
                               "planned no run; nothing was written")
        return models_digest(data)

    def _write(self, folder: Path, data: dict[str, TrainedModel]) -> None:
        for run_id, model in data.items():
            save_file(model.state, folder / f"{safe_name(run_id)}.safetensors",
                      metadata=_metadata(run_id, model))

    def load(self) -> dict[str, TrainedModel]:
        try:
            folder = Path(self._get_load_path())
        except DatasetError as exc:
            raise DatasetError(f"no trained model under {self._filepath}; run its pipeline "
                               "first") from exc
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise DatasetError(f"no trained model under {folder}; run its pipeline first")
        version = folder.parent.name if self._version is not None else None
        out = {}
        for f in files:
            try:
                with safe_open(f, framework="pt") as handle:
                    meta = handle.metadata()
                    state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
            except Exception as exc:  # noqa: BLE001 - truncated or foreign file
                raise DatasetError(f"cannot read the model file {f}: {exc}") from exc
            provenance = json.loads(meta.get("provenance", "{}"))
            provenance["model_version"] = version
            classes = json.loads(meta["classes"]) if "classes" in meta else None
            config = json.loads(meta["model_config"])
            plan = json.loads(meta["plan"])
            _verify(f, meta, state, _meaning(classes, config, plan=plan))
            out[meta["run_id"]] = TrainedModel(meta["run_id"], plan, config, state,
                                               json.loads(meta["history"]), provenance, classes)
        return out

    def _exists(self) -> bool:
        try:
            return any(Path(self._get_load_path()).glob("*.safetensors"))
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath), "version": self._version}


class RunModelsDataset(TrainedModelsDataset):
    """``{run_id: TrainedModel}`` as ``<path>/<run>.safetensors``, one file per run, not
    versioned: a save writes (atomically) the files of its runs and leaves the others, a
    load reads every run. The grid's model store (``conf/grid``), where each job saves one
    run and a fine-tuning job reads the baseline run of its seed."""

    def __init__(self, path: str, metadata: dict | None = None):
        super().__init__(path, None, metadata)

    def save(self, data: dict[str, TrainedModel]) -> None:
        folder = Path(self._get_save_path())
        for run_id, model in data.items():
            with atomic_file(folder / f"{safe_name(run_id)}.safetensors") as tmp:
                save_file(model.state, str(tmp), metadata=_metadata(run_id, model))


class CheckpointStoreDataset(AbstractDataset[None, CheckpointStore]):
    """Hands the training node a checkpoint store (a folder); the node writes one per epoch."""

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = path
        self.metadata = metadata

    def _exists(self) -> bool:
        return Path(self._path).is_dir()

    def load(self) -> CheckpointStore:
        return CheckpointStore(self._path)

    def save(self, data: None) -> None:
        raise DatasetError("checkpoint stores are written by the training loop")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}


def _serving_meaning(meta: dict[str, Any]) -> dict[str, Any]:
    """What a serving file's digest covers beside the weights: classes, model config, plan,
    preprocessing (and its domain) and TTA (what gives its predictions their meaning)."""
    return _meaning(meta["classes"], meta["model_config"], preprocessing=meta["preprocessing"],
                    preprocessing_domain=meta["preprocessing_domain"], tta=meta["tta"],
                    run_id=meta["run_id"], plan=meta["plan"])


def serving_digest(data: ServingModel) -> str:
    """The digest a serving file records: its weights and what gives its predictions their
    meaning (not its provenance: an unchanged model retrained at a new commit is the same
    model). MLflow registers a new model version only when it changes (``hooks.py``)."""
    return model_digest(data.trained.state, _serving_meaning(data.metadata()))


def registration_digest(data: ServingModel) -> str:
    """:func:`serving_digest` less what changes no prediction of the served run: its plan's
    ``seeds`` (the other runs' seeds) and ``resume``. Adding a seed whose runs do not beat
    the served one leaves it; MLflow's registration key is built from it (``hooks.py``)."""
    meaning = _serving_meaning(data.metadata())
    plan = dict(meaning["plan"] or {})
    plan["config"] = {k: v for k, v in dict(plan.get("config") or {}).items()
                      if k not in RESULT_NEUTRAL_KEYS}
    return model_digest(data.trained.state, {**meaning, "plan": plan})


class ServingModelDataset(AbstractDataset["ServingModel", "ServingModel"]):
    """The model a setup serves (:class:`~fer_da.inference.serving.ServingModel`) as one
    ``.safetensors`` file: the weights, and as JSON metadata the run id, class names,
    preprocessing, TTA, how it was chosen, plan, model config and provenance. Never
    unpickled. The MLflow model of the setup carries this file (docs/inference.md)."""

    def __init__(self, filepath: str, metadata: dict | None = None):
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def save(self, data: ServingModel) -> None:
        meta = {k: json.dumps(v) for k, v in data.metadata().items()}
        meta["digest"] = json.dumps(serving_digest(data))
        with atomic_file(Path(self._filepath)) as tmp:
            save_file(data.trained.state, str(tmp), metadata=meta)

    def load(self) -> ServingModel:
        from fer_da.inference.serving import ServingModel

        path = Path(self._filepath)
        if not path.is_file():
            raise DatasetError(f"no serving model at {path}; run the setup's pipeline first")
        try:
            with safe_open(path, framework="pt") as handle:
                meta = {k: json.loads(v) for k, v in (handle.metadata() or {}).items()}
                state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
        except Exception as exc:  # noqa: BLE001 - truncated or foreign file
            raise DatasetError(f"cannot read the model file {path}: {exc}") from exc
        known = {"run_id", "classes", "preprocessing", "preprocessing_domain", "tta",
                 "selected_by", "model_config", "plan", "provenance"}
        missing = sorted(known - set(meta))
        if missing:
            raise DatasetError(f"{path} is not a fer-da serving model (no {missing})")
        _verify(path, meta, state, _serving_meaning(meta))
        trained = TrainedModel(meta["run_id"], meta["plan"], meta["model_config"], state, [],
                               meta["provenance"], meta["classes"])
        return ServingModel(trained, meta["classes"], meta["preprocessing"],
                            meta["preprocessing_domain"], meta["tta"], meta["selected_by"],
                            {k: v for k, v in meta.items() if k not in known | {"digest"}})

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
