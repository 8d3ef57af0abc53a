"""Model selection without target labels: a score per epoch, the best epoch kept.

``source_val``: accuracy on the validation split of the labelled domains.
``target_entropy`` / ``target_im``: negative mean prediction entropy / information
maximisation on the unlabelled training images (no label read). Higher is better for
each; the scores themselves live in training/validators.py (with the other validators:
SND, BNM, ClassAMI, DEV, the oracle), this module runs the model to feed them.
``last``: the last epoch.
"""

from __future__ import annotations

import numpy as np
import torch

from fer_da.training import validators
from fer_da.training.data import DomainData
from fer_da.validate import ConfigError

SELECTABLE = ("source_val", "target_entropy", "target_im")  # computed per epoch here


@torch.inference_mode()
def _logp(model: torch.nn.Module, images: np.ndarray, device: torch.device,
          batch_size: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[i: i + batch_size])).unsqueeze(1)
        out.append(model(x.to(device)).class_logp.float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


def selection_score(criterion: str, model: torch.nn.Module, data: list[DomainData],
                    device: torch.device, batch_size: int = 256) -> float:
    """The validator ``criterion`` of training/validators.py on this model; higher is
    better (losses are negated)."""
    if criterion not in SELECTABLE:
        validators.validator(criterion, "training.select")  # unknown: names the choices
        raise ConfigError(f"training.select: {criterion!r} is not computed per epoch by the "
                          f"training loop; choose from {list(SELECTABLE)} or last")
    if criterion == "source_val":
        labelled = [d for d in data if d.val_images is not None and len(d.val_images)]
        if not labelled:
            raise ValueError("select: source_val needs a validation split on a labelled "
                             "domain (preprocessing.split.val_fraction > 0)")
        logp = torch.cat([_logp(model, d.val_images, device, batch_size) for d in labelled])
        labels = np.concatenate([np.asarray(d.val_labels) for d in labelled])
        return validators.source_accuracy(logp, labels)
    unlabelled = [d for d in data if not d.labelled]
    if not unlabelled:
        raise ValueError(f"select: {criterion} needs an unlabelled (target) domain")
    logp = torch.cat([_logp(model, d.images, device, batch_size) for d in unlabelled])
    return validators.score(criterion, {"target_logits": logp}, "training.select")


def keep_best(best: dict, criterion: str, model: torch.nn.Module, data: list[DomainData],
              device: torch.device, batch_size: int, epoch: int) -> tuple[float, dict]:
    """Score this epoch; the new ``best`` ({epoch, score, state on the CPU}) when it wins."""
    score = selection_score(criterion, model, data, device, batch_size)
    if score > best["score"]:
        best = {"epoch": epoch, "score": score,
                "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    return score, best
