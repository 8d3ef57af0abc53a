"""A trained model as the pipelines save it, and the provenance of its numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from fer_da.provenance import code_provenance
from fer_da.training.config import RunPlan
from fer_da.training.data import DomainData


@dataclass
class TrainedModel:
    run_id: str
    plan: dict[str, Any]
    model_config: dict[str, Any]
    state: dict[str, torch.Tensor]
    history: list[dict[str, float]]
    provenance: dict[str, Any] = field(default_factory=dict)
    classes: list[str] | None = None  # what its outputs mean, in order (None: saved before)


def run_provenance(plan: RunPlan, data: list[DomainData], data_digest: str,
                   runtime: dict[str, Any]) -> dict[str, Any]:
    """What a model's numbers trace back to: face-set version and digest of its training
    data, package source digest and git state, configuration hash, device and precision."""
    versions = sorted({d.faceset_version for d in data if d.faceset_version})
    contents = sorted({d.faceset_content for d in data if d.faceset_content})
    return {"faceset_version": "+".join(versions) or None, "faceset_digest": data_digest,
            "faceset_content": "+".join(contents) or None,
            **code_provenance(), "config_hash": plan.config_hash(), **runtime}
