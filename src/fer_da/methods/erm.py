"""``erm``: source-only training (baseline, joint, finetune): L_CLF. ``erm_mixed``: the
control of every adaptation run, L_CLF alone on exactly the aggregated (source + target)
batches an adaptation run sees (batch norm over both, no adaptation term)."""

from __future__ import annotations

from typing import Any

from fer_da.methods.base import Objective
from fer_da.methods.options import MethodOptions


def objective(method: str, cfg: Any, options: MethodOptions, **context: Any) -> Objective:
    return Objective(method, cfg, options)
