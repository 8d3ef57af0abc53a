"""``confusion`` (Tzeng et al. 2015): DANN's classifier learns the domains from detached
features; the features are trained towards its uniform prediction, a game that cannot be
"won" by a confidently wrong classifier (``methods/domain_game.py``). Fixed clamp only."""

from __future__ import annotations

from typing import Any

from fer_da.methods.domain_game import Adversarial
from fer_da.methods.options import MethodOptions


def objective(method: str, cfg: Any, options: MethodOptions, **context: Any) -> Adversarial:
    return Adversarial(method, cfg, options, "confusion")
