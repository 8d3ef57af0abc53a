"""The reporting pipeline after any subset of setups (issue 38): each setup alone, and none
of them, gives a report (a setup that did not run loads as an empty table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from fer_da.labels import CANONICAL_LABELS
from fer_da.methods.registry import SETUPS
from fer_da.pipelines.reporting import create_pipeline

DOMAINS = {"src": {"layout": "folder", "role": "source"},
           "tgt": {"layout": "folder", "role": "target"}}
PROVENANCE = {"faceset_version": "v1", "faceset_digest": "d", "eval_faceset_version": "v1",
              "faceset_mismatch": False, "source_digest": "s", "git_commit": "c",
              "git_dirty": False, "config_hash": "h", "device": "cpu", "precision": "fp32",
              "model_version": "m", "selected_by": "last", "selected_epoch": 2, "tta": "none",
              "bn_stats": "trained"}


def _runs(setup: str) -> list[str]:
    return {"dann": ["erm_mixed", "clamp3"], "joint": ["src+tgt"],
            "finetune": ["tgt"]}.get(setup, ["src"])


def _tables(setup: str) -> dict[str, pd.DataFrame]:
    """The metrics, history and predictions a run of ``setup`` writes (2 seeds)."""
    rng = np.random.default_rng(0)
    metrics, history, preds = [], [], []
    for run in _runs(setup):
        for seed in (0, 1):
            run_id = f"{setup}/{run}/seed{seed}"
            for domain, role in (("src", "source"), ("tgt", "target")):
                acc = float(rng.uniform(0.3, 0.9))
                metrics.append({"setup": setup, "run": run, "seed": seed, "run_id": run_id,
                                "train_domains": "src", "eval_domain": domain, "role": role,
                                "split": "test", "n": 20, "accuracy": acc,
                                "balanced_accuracy": acc, "macro_f1": acc, "nll": 1.0,
                                **PROVENANCE})
                preds.append(pd.DataFrame({
                    "run_id": run_id, "eval_domain": domain, "split": "test",
                    "image_id": [f"{domain}/{i}" for i in range(14)],
                    "label_idx": np.arange(14) % 7, "pred_idx": rng.integers(0, 7, 14),
                    **{f"f{k}": rng.normal(size=14) for k in range(4)}}))
            history += [{"setup": setup, "run": run, "seed": seed, "run_id": run_id,
                         "epoch": e, "clf_loss": 1.0 / e, "dmn_loss": 0.69, "lambda": 0.5,
                         "clamp_limit": 3.0, "dmn_acc": 0.5, "dmn_majority": 0.5,
                         "collapsed": 0.0, "collapse": ""} for e in (1, 2)]
    return {"metrics": pd.DataFrame(metrics), "history": pd.DataFrame(history),
            "predictions": pd.concat(preds, ignore_index=True)}


def _catalog(ran: str | None) -> DataCatalog:
    data = {"params:reporting": {}, "params:training": {"epochs": 2, "seeds": [0, 1]},
            "params:domains": DOMAINS, "params:labels": {},
            "protocol": pd.DataFrame([{"domain": d, "role": r, "layout": "folder",
                                       "data": "synthetic", "split_mode": "random",
                                       "n_train": 10, "n_val": 2, "n_test": 20}
                                      for d, r in (("src", "source"), ("tgt", "target"))]),
            "split_summary": pd.DataFrame([{"domain": "tgt", "split": "test",
                                            "label": label, "n": 3}
                                           for label in CANONICAL_LABELS])}
    for setup in SETUPS:
        tables = _tables(setup) if setup == ran else {}
        for name in ("metrics", "history", "predictions", "selection_trace"):
            data[f"{setup}.{name}"] = tables.get(name, pd.DataFrame())
    return DataCatalog({k: MemoryDataset(v) for k, v in data.items()})


@pytest.mark.parametrize("ran", [None, *SETUPS])
def test_the_report_follows_any_single_setup_or_none(ran):
    pipe = create_pipeline()
    catalog = _catalog(ran)
    for name in pipe.all_outputs():
        catalog[name] = MemoryDataset()
    SequentialRunner().run(pipe, catalog)
    markdown, html = catalog.load("report_markdown"), catalog.load("report_html")
    assert markdown.startswith("# fer-da report") and html.startswith("<!doctype html>")
    assert "embedded synthetic faces" in markdown
    assert ("DANN losses per epoch" in markdown) is (ran == "dann")
    assert ("HA-GAN: faces" in markdown) is (ran == "hagan")
    if ran in ("dann",):
        assert "Adaptation vs its controls" in markdown
    if ran is not None:
        assert "Methods side by side" in markdown or ran in ("joint", "finetune")
