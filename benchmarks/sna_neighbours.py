"""Are SNA's neighbours semantic? (paper 002: the divergence should single out unreliable
samples.) Measured on a face set with a known share of flipped labels.

    uv run python benchmarks/sna_neighbours.py                   # the synthetic default
    uv run python benchmarks/sna_neighbours.py --env realbench --domain fer2013 --max-train 3000
    uv run python benchmarks/sna_neighbours.py --env realbench --domain fer2013 --max-train 3000 \
        --training backbone=dlib_resnet29,pretrained=true,freeze=all   # a pretrained classifier

For the first source domain's training split of the env's latest face sets (run the
preprocessing pipeline first): flips ``--flip`` of the labels to another class (seeded),
trains the baseline recipe on the noisy labels (``train_run``, the project's own loop), fits
each neighbour generator on the same faces, and prints per generator:
- ``agree``: the share of neighbours whose predicted expression equals the original's;
- ``change``: mean absolute pixel change of a neighbour from its reconstruction (grey levels);
- ``AUROC``: how well Div(P^o, P^tr) ranks the flipped samples above the clean ones (0.5 =
  no better than chance), and Spearman's rho of Div with the flip indicator;
- ``masked flipped / clean``: the share of each that SNA's mask (Div above the mean) drops.
``pixel`` is the control: Gaussian pixel noise of the same mean change as the asymmetric
generator's neighbours. Writes docs/img/sna_neighbours.png (originals, reconstructions,
neighbours) with ``--figure``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("benchmark")


def _face_sets(env: str):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT, env=env) as session:
        context = session.load_context()
        return context.catalog.load("face_sets"), context.params


def _flip(labels: np.ndarray, share: float, n_classes: int, seed: int):
    rng = np.random.default_rng(seed)
    flipped = rng.random(len(labels)) < share
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, n_classes, flipped.sum())) % n_classes
    return noisy, flipped


@torch.no_grad()
def _divergence(model, images: np.ndarray, make, draws: int):
    from fer_da.methods.sna import symmetric_kl

    divs, agree = [], []
    for i in range(0, len(images), 256):
        x = torch.from_numpy(images[i: i + 256]).unsqueeze(1).float()
        logp = model(x).class_logp.float()
        d, a = 0.0, 0.0
        for _ in range(draws):
            logq = model(make(x)).class_logp.float()
            d = d + symmetric_kl(logp, logq) / draws
            a = a + (logq.argmax(1) == logp.argmax(1)).float() / draws
        divs.append(d)
        agree.append(a)
    return torch.cat(divs).numpy(), torch.cat(agree).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="base")
    parser.add_argument("--domain", default=None,
                        help="the domain (default: first source); 'all': every domain pooled")
    parser.add_argument("--flip", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--ae-epochs", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generators", default="conv,asymmetric")
    parser.add_argument("--figure", action="store_true")
    parser.add_argument("--training", default="",
                        help="training keys of the classifier, e.g. 'backbone=dlib_resnet29,"
                             "pretrained=true,freeze=all' (YAML values)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logger.setLevel(logging.INFO)

    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from fer_da.labels import vocabulary
    from fer_da.models.autoencoder import fit_autoencoder, neighbour_maker
    from fer_da.training.config import RunPlan
    from fer_da.training.data import training_view
    from fer_da.training.evaluate import load_model
    from fer_da.training.loop import train_run
    from fer_da.training.plans import plan_runs

    face_sets, params = _face_sets(args.env)
    domains = params["domains"]
    source = args.domain or next(d for d, s in domains.items() if s.get("role") == "source")
    n_classes = len(vocabulary(params["labels"]))
    pooled = tuple(sorted(face_sets)) if source == "all" else (source,)
    parts = training_view(face_sets, pooled, pooled, args.seed)
    data = replace(parts[0], name=pooled[0], images=np.concatenate([d.images for d in parts]),
                   labels=np.concatenate([d.labels for d in parts]), subjects=None,
                   val_images=np.concatenate([d.val_images for d in parts]),
                   val_labels=np.concatenate([d.val_labels for d in parts]))
    if source == "all":
        source, domains = pooled[0], {pooled[0]: domains.get(pooled[0], {})}
    if args.max_train and len(data.images) > args.max_train:
        keep = np.random.default_rng(args.seed).choice(len(data.images), args.max_train,
                                                       replace=False)
        data = replace(data, images=data.images[keep], labels=data.labels[keep],
                       subjects=None if data.subjects is None else data.subjects[keep])
    noisy, flipped = _flip(data.labels, args.flip, n_classes, args.seed)
    from realdata import parse_training

    training = {**params["training"], **parse_training(args.training),
                "seeds": [args.seed], "device": "cpu",
                **({"epochs": args.epochs} if args.epochs else {})}
    plan = next(RunPlan.from_dict(p) for p in plan_runs(
        {"kind": "baseline"}, {source: {**domains[source], "role": "source"}}, training,
        params.get("preprocessing", {}), {}) if source in p["train_domains"])
    t0 = time.perf_counter()
    trained = train_run(plan, [replace(data, labels=noisy)], n_classes, None)
    model = load_model(trained.model_config, trained.state).eval()
    logger.info("%s: %d faces, %.0f %% flipped; classifier trained in %.0f s", source,
                len(noisy), 100 * flipped.mean(), time.perf_counter() - t0)
    cpu = torch.device("cpu")
    rows, makers = [], {}
    for kind in args.generators.split(","):
        t0 = time.perf_counter()
        state, std = fit_autoencoder(data.images, 32, args.ae_epochs, args.seed, cpu,
                                     kind=kind)
        fit_s = time.perf_counter() - t0
        makers[kind] = (neighbour_maker(state, std, args.noise, cpu,
                                        torch.Generator().manual_seed(args.seed)),
                        neighbour_maker(state, std, 0.0, cpu, torch.Generator()))
        rows.append((kind, fit_s))
    x = torch.from_numpy(data.images[:512]).unsqueeze(1).float()
    results = []
    for kind, fit_s in rows:
        make, recon = makers[kind]
        r = recon(x)
        change = float((make(x) - r).abs().mean())
        mae = float((r - x).abs().mean())
        results.append((kind, fit_s, make, change, mae))
    ref = next((c for k, _, _, c, _ in results if k == "asymmetric"), results[0][3])
    gen = torch.Generator().manual_seed(args.seed)
    sigma = ref * np.sqrt(np.pi / 2)  # E|N(0, s)| = s sqrt(2 / pi)

    def pixel(x):
        return (x + sigma * torch.randn(x.shape, generator=gen)).clamp(0, 255)

    results.append(("pixel", 0.0, pixel, ref, 0.0))
    lines = [f"== {source} ({args.env}): {len(noisy)} training faces, {flipped.sum()} labels "
             f"flipped ({100 * args.flip:.0f} %), noise {args.noise}, {args.draws} draws, "
             f"autoencoders {args.ae_epochs} epochs",
             f"{'generator':>11} {'fit s':>6} {'recon MAE':>9} {'change':>6} {'agree':>6} "
             f"{'AUROC':>6} {'rho':>6} {'masked flipped':>14} {'masked clean':>12}"]
    for kind, fit_s, make, change, mae in results:
        div, agree = _divergence(model, data.images, make, args.draws)
        masked = div > div.mean()
        auc = roc_auc_score(flipped, div)
        rho = spearmanr(div, flipped).statistic
        lines.append(f"{kind:>11} {fit_s:6.0f} {mae:9.1f} {change:6.1f} {agree.mean():6.3f} "
                     f"{auc:6.3f} {rho:+6.3f} {masked[flipped].mean():14.3f} "
                     f"{masked[~flipped].mean():12.3f}")
    sys.stdout.write("\n".join(lines) + "\n")
    if args.figure:
        _figure(x[:8], makers, ROOT / "docs/img/sna_neighbours.png")


def _figure(x: torch.Tensor, makers: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("original", x)]
    for kind, (make, recon) in makers.items():
        rows += [(f"{kind}\nreconstruction", recon(x)), (f"{kind}\nneighbour", make(x)),
                 (f"{kind}\nneighbour", make(x))]
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.1 * len(rows)), squeeze=False)
    for ax, (name, imgs) in zip(axes[:, 0], rows, strict=True):
        ax.imshow(np.concatenate(list(imgs[:, 0].numpy()), axis=1), cmap="gray", vmin=0,
                  vmax=255)
        ax.set_ylabel(name, fontsize=6, rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    logger.info("wrote %s", path)


if __name__ == "__main__":
    main()
