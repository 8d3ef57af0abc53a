"""Is the domain game alive? Per-epoch diagnostics of an adversarial run and the collapse
detector (docs/training.md, "Diagnostics"). Pure functions of the epoch's averaged terms
and the history; they know nothing of Kedro.

A collapsed adversary is source-only training with extra steps. Three signatures, each held
over ``window`` consecutive epochs:

- ``one_domain``: the classifier predicts one domain for >= ``majority`` of the faces (with
  balanced batches its accuracy is then about 1/K) *and* it is confident or has a high
  loss: its domain loss (``dmn_loss``, the mean unclamped NLL) lies outside
  ``chance_band`` x ln K around ln K, the loss of a uniform guess. A classifier at chance
  (loss ~ ln K, e.g. 0.693 with two domains) is the equilibrium the game aims for: its
  argmax can tip to one domain by a hair without anything having collapsed. A history
  without a finite ``dmn_loss`` is judged by the majority alone;
- ``clamped``: >= ``clamped`` of the samples sit above the limit while the clamp mode is
  ``paper``, where a clamped sample sends no gradient to the classifier or the features
  (in the ``fixed`` mode a clamped sample still teaches the classifier, so a high share
  is no collapse there; it is logged all the same);
- ``inverted``: the domain accuracy is at most half of chance: the features "won" by making
  the classifier confidently wrong, which is no more domain-invariant than a confident
  right answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

VECTORS = ("dmn_correct", "dmn_count", "dmn_pred")


def epoch_diagnostics(means: dict[str, Any], domains: Sequence[str]) -> dict[str, float]:
    """Turn the epoch means of the per-domain vectors into named columns: the domain
    accuracy per domain (``dmn_acc_<domain>``) and the share of the most predicted domain
    (``dmn_majority``). Pops the vectors from ``means``; returns {} for runs without a
    domain classifier."""
    if not all(k in means for k in VECTORS):
        return {}
    correct, count, pred = (list(means.pop(k)) for k in VECTORS)
    out = {f"dmn_acc_{d}": (c / n if n > 0 else float("nan"))
           for d, c, n in zip(domains, correct, count, strict=True)}
    total = sum(pred)
    out["dmn_majority"] = max(pred) / total if total > 0 else float("nan")
    return out


def _off_chance(h: Mapping[str, Any], n_domains: int, band: float) -> bool:
    """The domain classifier is confident (loss well below ln K) or high-loss (well
    above): |dmn_loss - ln K| > band * ln K; True when the loss is not recorded."""
    loss = h.get("dmn_loss")
    if loss is None or not math.isfinite(float(loss)) or n_domains < 2:
        return True
    chance = math.log(n_domains)
    return abs(float(loss) - chance) > band * chance


def collapse_reason(history: Sequence[Mapping[str, Any]], n_domains: int, clamp_mode: str,
                    window: int = 3, majority: float = 0.95, clamped: float = 0.5,
                    chance_band: float = 0.1) -> str:
    """'' while the game is alive at the last epoch of ``history``, else the signature held
    over its last ``window`` epochs (``one_domain``, ``clamped``, ``inverted``)."""
    recent = list(history)[-window:]
    if len(recent) < window or any("dmn_acc" not in h for h in recent):
        return ""

    def held(test) -> bool:
        return all(test(h) for h in recent)

    if held(lambda h: h.get("dmn_majority", 0.0) >= majority
            and _off_chance(h, n_domains, chance_band)):
        return "one_domain"
    if clamp_mode == "paper" and held(lambda h: h.get("clamped_frac", 0.0) >= clamped):
        return "clamped"
    if held(lambda h: h["dmn_acc"] <= 0.5 / n_domains):
        return "inverted"
    return ""


def collapsed_epochs(history: Sequence[Mapping[str, Any]]) -> list[int]:
    """The epochs flagged ``collapsed`` in a run's history."""
    return [int(h["epoch"]) for h in history if h.get("collapsed")]
