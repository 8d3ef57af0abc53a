"""The objective and the model configuration of a method, found through the registry
(``methods/registry.py``): the loop knows no method by name."""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any

from fer_da.methods.base import Objective
from fer_da.methods.options import MethodOptions
from fer_da.methods.registry import method as spec_of
from fer_da.models.fer_net import ModelConfig


def build_objective(method: str, cfg: Any, options: MethodOptions, **context: Any
                    ) -> Objective:
    """``context``: what the method's ``needs`` provide (``neighbours`` for sna)."""
    spec = spec_of(method)
    if spec.trainer != "loop":
        raise ValueError(f"{method} trains in its own loop ({spec.module}), not through an "
                         "objective")
    return importlib.import_module(spec.module).objective(method, cfg, options, **context)


def model_config_for(method: str, config: ModelConfig, options: MethodOptions,
                     identities: int = 0) -> ModelConfig:
    """The heads a method adds to the paper's model (saved with it, so evaluation rebuilds
    the same network), and what its domain classifier reads."""
    spec = spec_of(method)
    config = replace(config, domain_conditioning=spec.conditioning)
    hook = getattr(importlib.import_module(spec.module), "model_config", None)
    return hook(config, options, identities) if hook else config
