"""Every shipped configuration is consistent: declared domains have roots, and vice versa."""

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from fer_da.ingest import parse_domain_specs
from fer_da.pipelines.training.nodes import plan_runs

CONF = Path(__file__).parents[1] / "conf"


@pytest.mark.parametrize("env", ["local", "paper", "example_lab"])
def test_env_declares_matching_domains_and_roots(env):
    loader = OmegaConfigLoader(str(CONF), base_env="base", default_run_env=env)
    params, catalog = loader["parameters"], loader["catalog"]
    specs = parse_domain_specs(params["domains"])
    assert {s.name for s in specs} == set(catalog["raw_domains"]["domains"])
    for kind in ("baseline", "joint", "finetune", "dann"):
        assert plan_runs(params[kind]["setup"], params["domains"], params["training"])


def test_paper_env_uses_the_paper_hyper_parameters():
    params = OmegaConfigLoader(str(CONF), base_env="base", default_run_env="paper")["parameters"]
    t = params["training"]
    assert (t["epochs"], t["batch_size"], t["lr"], t["backbone"]) == (100, 40, 1e-4, "vgg19")
    assert params["preprocessing"]["image_size"] == 224
    assert params["dann"]["setup"]["clamps"] == [3000, 5000, 7000, 10000]
