"""Training nodes, shared by every setup (baseline, joint, finetune, dann and the sibling
papers' jm, atf, ed2l, sna, hagan)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from fer_da.facesets import FaceSet, content_digest
from fer_da.labels import vocabulary
from fer_da.methods.registry import method as method_spec
from fer_da.pipelines._types import CheckpointStore, DomainData, TrainedModel

logger = logging.getLogger(__name__)


def select_training_data(face_sets: dict[str, FaceSet],
                         plans: list[dict[str, Any]]) -> dict[str, list[DomainData]]:
    """Per run, the train split of its domains; unlabelled domains arrive without labels."""
    from fer_da.training.config import RunPlan
    from fer_da.training.data import training_view

    out, content = {}, content_digest(face_sets)
    for p in plans:
        plan = RunPlan.from_dict(p)
        out[plan.run_id] = training_view(face_sets, plan.train_domains, plan.labelled_domains,
                                         plan.seed, content)
    return out


def fit_autoencoders(training_data: dict[str, list[DomainData]],
                     plans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per sna run, a small autoencoder on its labelled training faces (paper 002): the
    latent space in which semantic neighbours are made. Seeded by the run's seed."""
    from fer_da.devices import resolve_device
    from fer_da.models.autoencoder import fit_autoencoder
    from fer_da.training.config import RunPlan

    out = {}
    for p in plans:
        plan = RunPlan.from_dict(p)
        if "autoencoder" not in method_spec(plan.method).needs:
            continue
        opts = plan.method_options
        faces = np.concatenate([d.images for d in training_data[plan.run_id] if d.labelled])
        state, code_std = fit_autoencoder(faces, opts.latent, opts.ae_epochs, plan.seed,
                                          resolve_device(plan.config.device),
                                          kind=opts.generator)
        out[plan.run_id] = {"state": state, "code_std": code_std}
    return out


def render_animated_characters(plans: list[dict[str, Any]], labels: dict[str, Any],
                               preprocessing: dict[str, Any],
                               characters: dict[str, Any] | None = None) -> dict[str, Any]:
    """HA-GAN's animated character set (paper 004): drawn by the synthetic renderer or read
    from FERG-DB (``hagan.characters``), at the faces' size, with every class of the
    ``options.characters`` identities the runs use."""
    from fer_da.ingest.characters import character_set
    from fer_da.training.config import RunPlan

    needed = max([RunPlan.from_dict(p).method_options.characters for p in plans] or [1])
    size = int(preprocessing.get("image_size", 48))
    return character_set(characters, list(vocabulary(labels)), size, needed).to_dict()


def train_models(
    training_data: dict[str, list[DomainData]],
    plans: list[dict[str, Any]],
    checkpoints: CheckpointStore,
    labels: dict[str, Any],
    init_models: dict[str, TrainedModel] | None = None,
    autoencoders: dict[str, dict[str, Any]] | None = None,
    characters: dict[str, Any] | None = None,
) -> tuple[dict[str, TrainedModel], pd.DataFrame]:
    """Train every planned run (resuming from checkpoints); returns models and histories."""
    from fer_da.ingest.characters import CharacterSet
    from fer_da.training.config import RunPlan
    from fer_da.training.hagan import train_hagan
    from fer_da.training.loop import train_run

    n_classes = len(vocabulary(labels))
    models, rows = {}, []
    for p in plans:
        plan = RunPlan.from_dict(p)
        init = None
        if plan.init_from:
            if not init_models or plan.init_from not in init_models:
                raise KeyError(f"{plan.run_id} starts from {plan.init_from}, which was not "
                               f"trained (available: {sorted(init_models or {})})")
            init = init_models[plan.init_from].state
        if method_spec(plan.method).trainer == "hagan":
            if characters is None:
                raise ValueError(f"{plan.run_id}: hagan needs the render_characters node")
            trained = train_hagan(plan, training_data[plan.run_id], n_classes,
                                  CharacterSet.from_dict(characters), checkpoints)
        else:
            trained = train_run(plan, training_data[plan.run_id], n_classes, checkpoints,
                                init, autoencoder=(autoencoders or {}).get(plan.run_id))
        models[plan.run_id] = replace(trained, classes=list(vocabulary(labels)))
        rows += [{"setup": plan.setup, "run": plan.run, "seed": plan.seed,
                  "run_id": plan.run_id, **h} for h in trained.history]
    return models, pd.DataFrame(rows)
