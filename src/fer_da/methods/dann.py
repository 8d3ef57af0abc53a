"""``dann`` (the paper; Ganin & Lempitsky 2015): the domain classifier reads the features
through the gradient reversal layer; L_CLF + lambda * L_DMN with the scheduled clamp
(``methods/domain_game.py``)."""

from __future__ import annotations

from typing import Any

from fer_da.methods.domain_game import Adversarial
from fer_da.methods.options import MethodOptions


def objective(method: str, cfg: Any, options: MethodOptions, **context: Any) -> Adversarial:
    return Adversarial(method, cfg, options, "reverse")
