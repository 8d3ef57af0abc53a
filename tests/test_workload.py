"""Workload arithmetic behind the benchmark's grid projection."""

from pathlib import Path

import pytest

from fer_da.config_loader import LabConfigLoader
from fer_da.models import ModelConfig, training_flops_per_image
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.loop import steps_per_epoch
from fer_da.training.plans import plan_runs
from fer_da.training.workload import (
    epoch_images,
    format_duration,
    grid_images,
    seconds_at_mfu,
    seconds_at_throughput,
)

CONF = Path(__file__).parents[1] / "conf"
PAPER_TRAIN = {"kdef": 784, "ckplus": 372, "jaffe": 170, "tfeid": 184}
DOMAINS = tuple(PAPER_TRAIN)


def _plan(mode: str, train: tuple[str, ...], batch: int = 40) -> RunPlan:
    return RunPlan(setup="s", run="r", seed=0, mode=mode, train_domains=train,
                   labelled_domains=train[:1], all_domains=DOMAINS,
                   config=TrainConfig(batch_size=batch, epochs=3))


def test_dann_epoch_cycles_short_domains_up_to_the_longest():
    plan = _plan("dann", DOMAINS)
    # ceil(784 / 40) = 20 aggregated steps of 40 from each of 4 domains
    assert epoch_images(plan, PAPER_TRAIN) == 20 * 40 * 4
    sizes = [PAPER_TRAIN[d] for d in DOMAINS]
    assert epoch_images(plan, PAPER_TRAIN) == steps_per_epoch(plan, sizes) * 40 * 4


def test_supervised_epoch_is_one_pass_over_the_union():
    assert epoch_images(_plan("supervised", ("kdef", "jaffe")), PAPER_TRAIN) == 784 + 170


def test_missing_or_empty_domain_size_is_an_error():
    with pytest.raises(ValueError, match="tfeid"):
        epoch_images(_plan("supervised", ("tfeid",)), {"kdef": 10})
    with pytest.raises(ValueError, match="needs images"):
        epoch_images(_plan("dann", DOMAINS), {**PAPER_TRAIN, "jaffe": 0})


def test_paper_grid_workload_matches_a_hand_count():
    params = LabConfigLoader(str(CONF), base_env="base", default_run_env="paper")["parameters"]
    plans = [RunPlan.from_dict(d) for s in ("baseline", "joint", "finetune", "dann")
             for d in plan_runs(params[s]["setup"], params["domains"], params["training"])]
    images = grid_images(plans, PAPER_TRAIN)
    # Table I's KDEF column is the baseline model, not retrained; DANN: 4 clamps in the
    # paper's and the fixed clamp mode, and the erm_mixed control
    assert len(images) == 1 + 3 + 3 + 4 * 2 + 1
    baseline = 784
    joint = (784 + 372) + (784 + 372 + 170) + (784 + 372 + 170 + 184)
    finetune = 372 + 170 + 184
    dann = 9 * 20 * 40 * 4
    assert sum(images.values()) == 100 * (baseline + joint + finetune + dann) == 3_430_200


def test_vgg19_training_flops_are_three_forward_passes():
    per_image = training_flops_per_image(ModelConfig(backbone="vgg19"), 224)
    # VGG-19 forward at 224 px: 19.6 GMAC = 39.2 GFLOP; training ~ 3x forward
    assert 115e9 < per_image < 120e9
    assert training_flops_per_image(ModelConfig(backbone="vgg19"), 224, batch=3) == per_image
    small = training_flops_per_image(ModelConfig(backbone="vgg11_slim_bn"), 48)
    assert 0 < small < per_image / 1000


def test_projections_and_durations():
    assert seconds_at_throughput(1000, 250.0) == 4.0
    assert seconds_at_mfu(1_000_000, 1e8, 100.0, 0.5) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        seconds_at_mfu(1, 1e8, 100.0, 0.0)
    with pytest.raises(ValueError):
        seconds_at_throughput(1, 0.0)
    assert [format_duration(s) for s in (42, 564, 3900, 1_568_000)] == [
        "42 s", "9.4 min", "1 h 05 min", "435 h 33 min"]
