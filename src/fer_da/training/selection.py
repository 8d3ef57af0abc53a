"""Model selection without target labels: a score per epoch, the best epoch kept.

``source_val``: accuracy on the validation split of the labelled domains.
``target_entropy`` / ``target_im``: negative mean prediction entropy / information
maximisation on the unlabelled training images (no label read); ``snd``, ``bnm``,
``class_ami``, ``dev``: the other label-free validators. Higher is better for each; the
scores themselves live in training/validators.py (with the oracle, an upper bound that
never selects), this module runs the model to feed them.
``last``: the last epoch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fer_da.training import validators
from fer_da.training.data import DomainData
from fer_da.training.validators import LABEL_FREE
from fer_da.validate import ConfigError

SAMPLE = 2000  # images per role for the SAMPLED validators (seeded): SND's N x N, k-means


@torch.inference_mode()
def _outputs(model: torch.nn.Module, images: np.ndarray, device: torch.device,
             batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities and features of ``images`` (eval mode, restored after)."""
    was_training = model.training
    model.eval()
    logp, feats = [], []
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[i: i + batch_size])).unsqueeze(1)
        out = model(x.to(device))
        logp.append(out.class_logp.float().cpu())
        feats.append(out.features.float().cpu())
    model.train(was_training)
    if not logp:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(logp), torch.cat(feats)


def _sample(images: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, Any]:
    """At most :data:`SAMPLE` rows, seeded (the same rows at every epoch)."""
    if len(images) <= SAMPLE:
        return images, labels
    keep = np.sort(np.random.default_rng(0).choice(len(images), SAMPLE, replace=False))
    return images[keep], (labels[keep] if labels is not None else None)


def _role(model: torch.nn.Module, parts: list[tuple[np.ndarray, Any]], device: torch.device,
          batch_size: int, sample: bool) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """Outputs of one role's images (its domains' parts together), sampled or not."""
    images = np.concatenate([p[0] for p in parts])
    labels = (np.concatenate([np.asarray(p[1]) for p in parts])
              if all(p[1] is not None for p in parts) else None)
    if sample:
        images, labels = _sample(images, labels)
    logp, feats = _outputs(model, images, device, batch_size)
    return logp, feats, labels


# their inputs are sampled (SND is quadratic in the pool, ClassAMI clusters it, DEV fits a
# classifier on it); the others read the whole unlabelled pool
SAMPLED = ("snd", "class_ami", "dev")


def validation_inputs(model: torch.nn.Module, data: list[DomainData], device: torch.device,
                      batch_size: int, needs: set[str], sample: bool = True) -> dict[str, Any]:
    """What the validators in ``needs`` read (training/validators.py, ``INPUTS``): the
    labelled domains' validation split and (sampled) training split, the unlabelled
    domains' (sampled) pool; never a target label."""
    out: dict[str, Any] = {}
    if any(k.startswith("source_val") for k in needs):
        val = [(d.val_images, d.val_labels) for d in data
               if d.val_images is not None and len(d.val_images)]
        if not val:
            raise ValueError("select: source_val needs a validation split on a labelled "
                             "domain (preprocessing.split.val_fraction > 0)")
        logp, feats, labels = _role(model, val, device, batch_size, sample=False)
        out |= {"source_val_logits": logp, "source_val_features": feats,
                "source_val_labels": labels}
    if any(k.startswith("source_train") for k in needs):
        logp, feats, labels = _role(model, [(d.images, d.labels) for d in data if d.labelled],
                                    device, batch_size, sample=sample)
        out |= {"source_train_features": feats, "source_train_labels": labels}
    if any(k.startswith("target_") for k in needs):
        pool = [(d.images, None) for d in data if not d.labelled]
        if not pool:
            raise ValueError("select: the target validators need an unlabelled (target) "
                             "domain")
        logp, feats, _ = _role(model, pool, device, batch_size, sample=sample)
        out |= {"target_logits": logp, "target_features": feats}
    return out


def selection_score(criterion: str, model: torch.nn.Module, data: list[DomainData],
                    device: torch.device, batch_size: int = 256) -> float:
    """The label-free validator ``criterion`` (training/validators.py) on this model;
    higher is better (losses and risks are negated)."""
    v = validators.validator(criterion, "training.select")
    if v.upper_bound:
        raise ConfigError("training.select: the oracle reads target test labels; it is an "
                          f"upper bound, never a selection; choose from {list(LABEL_FREE)}")
    inputs = validation_inputs(model, data, device, batch_size, set(v.needs),
                               sample=criterion in SAMPLED)
    return validators.score(criterion, inputs, "training.select")


def validator_scores(names: tuple[str, ...], model: torch.nn.Module, data: list[DomainData],
                     device: torch.device, batch_size: int) -> dict[str, float]:
    """``val_<name>`` of each validator in ``names`` on this model (the inputs computed once
    for all of them). A run without an unlabelled domain (source-only) records those that
    read no target data (``source_val``, ``dev`` needs the target too)."""
    if not any(not d.labelled for d in data):  # source-only: no unlabelled pool to read
        names = tuple(n for n in names if not any(k.startswith("target_") for k in
                                                   validators.validator(n).needs))
    out = {}
    for sample in (False, True):  # each validator on the inputs it selects with
        group = [n for n in names if (n in SAMPLED) is sample]
        if group:
            needs = {k for n in group for k in validators.validator(n).needs}
            inputs = validation_inputs(model, data, device, batch_size, needs, sample)
            out |= {f"val_{n}": validators.score(n, inputs) for n in group}
    return {f"val_{n}": out[f"val_{n}"] for n in names}


def keep_best(best: dict, criterion: str, model: torch.nn.Module, data: list[DomainData],
              device: torch.device, batch_size: int, epoch: int) -> tuple[float, dict]:
    """Score this epoch; the new ``best`` ({epoch, score, state on the CPU}) when it wins."""
    score = selection_score(criterion, model, data, device, batch_size)
    if score > best["score"]:
        best = {"epoch": epoch, "score": score,
                "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    return score, best
