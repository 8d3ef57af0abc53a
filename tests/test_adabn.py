"""AdaBN: batch-norm statistics re-estimated on an unlabelled domain, against hand-computed
values; its runs in the dann setup and their evaluation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from fer_da.facesets import FaceSet
from fer_da.models import FERNet, ModelConfig
from fer_da.pipelines.evaluation.nodes import evaluate_models
from fer_da.training.adabn import adapt_batchnorm, batchnorm_layers
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.evaluate import predict
from fer_da.training.loop import train_run
from fer_da.training.plans import plan_runs
from fer_da.validate import ConfigError

DOMAINS = {"src": {"layout": "jaffe", "role": "source"},
           "tgt": {"layout": "jaffe", "role": "target"}}


class PixelNorm(nn.Module):
    """uint8 (B, 1, S, S) -> a batch norm of the raw pixels, then a dropout."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(1)
        self.drop = nn.Dropout(0.9)

    def forward(self, x):
        return self.drop(self.bn(x.float()))


def _faces(n=12, size=4, seed=0, low=0, high=255):
    return np.random.default_rng(seed).integers(low, high, (n, size, size), dtype=np.uint8)


def test_one_batch_gives_the_exact_mean_and_unbiased_variance():
    images = _faces()
    model = PixelNorm()
    adapted = adapt_batchnorm(model, images, batch_size=64)
    values = images.astype(np.float64).ravel()
    assert float(adapted.bn.running_mean) == pytest.approx(values.mean(), rel=1e-6)
    assert float(adapted.bn.running_var) == pytest.approx(values.var(ddof=1), rel=1e-5)
    # the model handed in is unchanged (a copy is adapted), and left in evaluation mode
    assert float(model.bn.running_mean) == 0.0 and float(model.bn.running_var) == 1.0
    assert not adapted.training and not adapted.bn.training


def test_several_batches_average_the_batch_statistics_in_a_seeded_order():
    images = _faces(n=12)
    adapted = adapt_batchnorm(PixelNorm(), images, batch_size=5, seed=3)  # 12 // 5 = 2
    order = np.random.default_rng(3).permutation(12)
    batches = [images[np.sort(rows)].astype(np.float64).ravel()
               for rows in np.array_split(order, 2)]
    assert [len(b) for b in batches] == [6 * 16, 6 * 16]  # every face used, none dropped
    assert float(adapted.bn.running_mean) == pytest.approx(
        np.mean([b.mean() for b in batches]), rel=1e-6)
    assert float(adapted.bn.running_var) == pytest.approx(
        np.mean([b.var(ddof=1) for b in batches]), rel=1e-5)
    again = adapt_batchnorm(PixelNorm(), images, batch_size=5, seed=3)
    assert float(again.bn.running_var) == float(adapted.bn.running_var)  # deterministic


def test_only_statistics_change_and_bad_input_is_refused():
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="vgg11_slim_bn", n_classes=3, n_domains=2,
                               tap_dim=8, hidden=8))
    adapted = adapt_batchnorm(model, _faces(n=8, size=32), batch_size=4)
    before, after = model.state_dict(), adapted.state_dict()
    stats = {n for n, _ in adapted.named_buffers()
             if n.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert stats and len(batchnorm_layers(adapted)) >= 8
    for name, value in before.items():
        if name in stats:
            continue
        assert torch.equal(value, after[name]), name  # weights untouched
    assert any(not torch.equal(before[n], after[n]) for n in stats if "running" in n)
    with pytest.raises(ValueError, match="no batch-normalisation layer"):
        adapt_batchnorm(nn.Sequential(nn.Flatten()), _faces())
    with pytest.raises(ValueError, match="at least 2 faces"):
        adapt_batchnorm(PixelNorm(), _faces(n=1))
    with pytest.raises(ValueError, match="uint8"):
        adapt_batchnorm(PixelNorm(), _faces().astype(np.float32))


def test_target_statistics_undo_a_domain_wide_contrast_change():
    """A target whose faces are 2x + 20 of the source's: after the first conv + batch norm
    the two differ only near the zero-padded border, so the AdaBN model's features and
    predictions on the target come close to the source's, far closer than the unadapted
    model's (measured: 0.07 vs 1.2 in log-probability)."""
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="vgg11_slim_bn", n_classes=7, n_domains=2,
                               tap_dim=8, hidden=8)).eval()
    blocks = np.random.default_rng(0).integers(0, 100, (64, 6, 6))
    source = np.kron(blocks, np.ones((8, 8), dtype=np.int64)).astype(np.uint8)  # 48 px
    target = (source.astype(np.int32) * 2 + 20).astype(np.uint8)
    on_source = adapt_batchnorm(model, source, batch_size=64)
    on_target = adapt_batchnorm(model, target, batch_size=64)
    want, _, want_f = predict(on_source, source, "cpu")
    adapted, _, adapted_f = predict(on_target, target, "cpu")
    plain, _, plain_f = predict(on_source, target, "cpu")
    assert np.abs(adapted - want).max() < 0.2 * np.abs(plain - want).max()
    assert np.abs(adapted_f - want_f).mean() < 0.2 * np.abs(plain_f - want_f).mean()


def test_adabn_runs_are_planned_in_the_dann_setup():
    plans = plan_runs({"kind": "dann", "clamps": [3.0],
                       "methods": ["adabn", "dann+adabn", "mcc"]}, DOMAINS, {})
    got = [(p["run"], p["method"], p["mode"], p["train_domains"], p["target_bn"])
           for p in plans]
    assert got == [("adabn", "erm", "supervised", ("src",), True),
                   ("clamp3_adabn", "dann", "dann", ("src", "tgt"), True),
                   ("mcc", "mcc", "dann", ("src", "tgt"), False),
                   # the AdaBN twin of the control, planned for dann+adabn
                   ("erm_mixed_adabn", "erm_mixed", "dann", ("src", "tgt"), True)]
    twice = plan_runs({"kind": "dann", "clamps": [3.0],
                       "methods": ["dann+adabn", "erm_mixed+adabn"]}, DOMAINS, {})
    assert [p["run"] for p in twice] == ["clamp3_adabn", "erm_mixed_adabn"]  # not twice
    alone = plan_runs({"kind": "dann", "methods": ["adabn", "erm_mixed"]}, DOMAINS, {})
    assert [p["run"] for p in alone] == ["adabn", "erm_mixed"]  # no +adabn method: no twin
    baseline = plan_runs({"kind": "baseline"}, DOMAINS, {})[0]
    adabn = RunPlan.from_dict(plans[0])
    # the baseline's training: same data, objective and config, so the same weights
    assert (adabn.train_domains, adabn.labelled_domains, adabn.mode, adabn.method,
            adabn.config) == (tuple(baseline["train_domains"]),
                              tuple(baseline["labelled_domains"]), baseline["mode"],
                              baseline["method"], TrainConfig.from_params(baseline["config"]))
    for bad in ("bn", "adabn+dann", "dann+bn"):
        with pytest.raises(ConfigError, match=r"dann.setup.methods\[\] must be one of"):
            plan_runs({"kind": "dann", "methods": [bad]}, DOMAINS, {})
    with pytest.raises(ConfigError, match="select must be source_val or last"):
        plan_runs({"kind": "dann", "methods": ["adabn"]}, DOMAINS,
                  {"select": "target_im"})


def test_evaluation_scores_each_target_with_its_own_statistics(face_sets):
    three = {**face_sets, "tgt2": FaceSet(
        np.clip(face_sets["tgt"].images.astype(np.int32) + 60, 0, 255).astype(np.uint8),
        face_sets["tgt"].table.assign(domain="tgt2", image_id=lambda t: "2" + t.image_id))}
    cfg = TrainConfig(epochs=1, batch_size=4, device="cpu", tap_dim=8, hidden=8)
    plan = RunPlan(setup="dann", run="adabn", seed=0, mode="supervised",
                   train_domains=("src",), labelled_domains=("src",),
                   all_domains=("src", "tgt", "tgt2"), method="erm", config=cfg,
                   target_bn=True)
    trained = train_run(plan, training_view(three, ("src",), ("src",)), 7)
    plain = dataclasses.replace(trained, run_id="dann/plain/seed0",
                                plan={**trained.plan, "run": "plain", "target_bn": False})
    metrics, _ = evaluate_models({trained.run_id: trained, plain.run_id: plain}, three,
                                 {"device": "cpu"}, {"splits": ["val"]}, {})
    rows = metrics.set_index(["run", "eval_domain"])
    assert rows.loc[("adabn", "src"), "bn_stats"] == "trained"
    assert rows.loc[("adabn", "tgt"), "bn_stats"] == "tgt/train"
    assert rows.loc[("adabn", "tgt2"), "bn_stats"] == "tgt2/train"
    assert set(rows.loc["plain", "bn_stats"]) == {"trained"}
    # the source is scored as trained; each target as adapt_batchnorm on its train split
    assert rows.loc[("adabn", "src"), "nll"] == pytest.approx(rows.loc[("plain", "src"), "nll"])
    from fer_da.training.evaluate import load_model

    model = load_model(trained.model_config, trained.state)
    for domain in ("tgt", "tgt2"):
        fs = three[domain]
        adapted = adapt_batchnorm(model, fs.split("train").images, 256, 0, "cpu")
        logp, _, _ = predict(adapted, fs.split("val").images, "cpu")
        truth = fs.split("val").table["label_idx"].to_numpy()
        nll = -logp[np.arange(len(truth)), truth].mean()
        assert rows.loc[("adabn", domain), "nll"] == pytest.approx(nll, rel=1e-5)
        assert rows.loc[("adabn", domain), "nll"] != pytest.approx(
            rows.loc[("plain", domain), "nll"], rel=1e-3)


def test_report_columns_name_the_adabn_runs():
    from fer_da.reporting.paper_tables import _column_key, _column_label

    assert _column_label("dann", "clamp3_adabn", {}) == "clamp = 3 + AdaBN"
    assert _column_label("dann", "cdan_e_clamp3_adabn", {}) == "cdan_e clamp = 3 + AdaBN"
    assert _column_label("dann", "adabn", {}) == "AdaBN"
    runs = ["adabn", "clamp3_adabn", "clamp3", "clamp1"]
    assert sorted(runs, key=lambda r: _column_key("dann", r, [])) == [
        "clamp1", "clamp3", "clamp3_adabn", "adabn"]


def test_adabn_evaluation_names_a_target_without_train_faces(face_sets):
    cfg = TrainConfig(epochs=1, batch_size=4, device="cpu", tap_dim=8, hidden=8)
    plan = RunPlan(setup="dann", run="adabn", seed=0, mode="supervised",
                   train_domains=("src",), labelled_domains=("src",),
                   all_domains=("src", "tgt"), method="erm", config=cfg, target_bn=True)
    trained = train_run(plan, training_view(face_sets, ("src",), ("src",)), 7)
    tgt = face_sets["tgt"]
    only_val = {**face_sets, "tgt": tgt.subset(tgt.table["split"] == "val")}
    with pytest.raises(ValueError, match="dann/adabn/seed0 .*'tgt'"):
        evaluate_models({trained.run_id: trained}, only_val, {"device": "cpu"},
                        {"splits": ["val"]}, {})
