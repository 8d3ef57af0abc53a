"""Model selection without target labels: a score per epoch, the best epoch kept.

``source_val``: accuracy on the validation split of the labelled domains (higher is
better). ``target_entropy`` / ``target_im``: mean prediction entropy / information
maximisation loss on the unlabelled training images (lower is better; no label read).
``last``: the last epoch.
"""

from __future__ import annotations

import numpy as np
import torch

from fer_da.training.data import DomainData


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
    """Higher is better (losses are negated)."""
    from fer_da.methods.entropy import entropy_loss, im_loss

    if criterion == "source_val":
        hits = total = 0
        for d in data:
            if d.val_images is None or not len(d.val_images):
                continue
            pred = _logp(model, d.val_images, device, batch_size).argmax(1).numpy()
            hits += int((pred == d.val_labels).sum())
            total += len(d.val_labels)
        if not total:
            raise ValueError("select: source_val needs a validation split on a labelled "
                             "domain (preprocessing.split.val_fraction > 0)")
        return hits / total
    if criterion in ("target_entropy", "target_im"):
        unlabelled = [d for d in data if not d.labelled]
        if not unlabelled:
            raise ValueError(f"select: {criterion} needs an unlabelled (target) domain")
        logp = torch.cat([_logp(model, d.images, device, batch_size) for d in unlabelled])
        loss = entropy_loss(logp) if criterion == "target_entropy" else im_loss(logp)
        return -float(loss)
    raise ValueError(f"unknown selection criterion {criterion!r}")


def keep_best(best: dict, criterion: str, model: torch.nn.Module, data: list[DomainData],
              device: torch.device, batch_size: int, epoch: int) -> tuple[float, dict]:
    """Score this epoch; the new ``best`` ({epoch, score, state on the CPU}) when it wins."""
    score = selection_score(criterion, model, data, device, batch_size)
    if score > best["score"]:
        best = {"epoch": epoch, "score": score,
                "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    return score, best
