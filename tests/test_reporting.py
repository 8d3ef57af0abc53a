import numpy as np
import pandas as pd
import pytest

from fer_da.reporting.adistance import proxy_a_distance
from fer_da.reporting.tables import build_tables, paper_reference, pivot

NAMES = {"kdef": "KDEF", "ck": "CK"}  # declared order


def _m(setup, run, seed, dom, acc, nll):
    return {"setup": setup, "run": run, "seed": seed, "run_id": f"{setup}/{run}/seed{seed}",
            "train_domains": run, "eval_domain": dom, "role": "", "split": "test", "n": 10,
            "accuracy": acc, "nll": nll}


def _metrics():
    return {
        "baseline": pd.DataFrame([_m("baseline", "kdef", 0, "kdef", 0.9, 0.5),
                                  _m("baseline", "kdef", 0, "ck", 0.4, 2.0)]),
        "joint": pd.DataFrame([_m("joint", "kdef+ck", 0, "kdef", 0.8, 0.6),
                               _m("joint", "kdef+ck", 0, "ck", 0.95, 0.1)]),
        "finetune": pd.DataFrame([_m("finetune", "ck", 0, "kdef", 0.3, 3.0),
                                  _m("finetune", "ck", 0, "ck", 0.99, 0.02)]),
        "dann": pd.DataFrame([_m("dann", "clamp5000", s, d, a, n) for s, d, a, n in
                              [(0, "kdef", 0.7, 1.0), (1, "kdef", 0.8, 2.0),
                               (0, "ck", 0.5, 3.0), (1, "ck", 0.6, 5.0)]]),
    }


def test_tables_pivot_to_the_papers_rows_and_columns():
    long = build_tables(_metrics(), NAMES)
    t1 = pivot(long, "I", "accuracy")
    assert list(t1.columns) == ["KDEF", "KDEF CK"] and list(t1.index) == ["KDEF", "CK"]
    assert t1.loc["CK", "KDEF CK"] == "95.00%" and t1.loc["KDEF", "KDEF"] == "90.00%"
    assert t1.loc["CK", "KDEF"] == "40.00%"  # Table I's first column is the baseline model
    t2 = pivot(long, "II", "loss")
    assert list(t2.columns) == ["KDEF", "CK"]  # the source baseline first, then each target
    assert t2.loc["KDEF", "CK"] == "3.00" and t2.loc["CK", "KDEF"] == "2.00"
    t3 = pivot(long, "III", "accuracy")  # two seeds: mean ± sample std
    assert t3.loc["KDEF", "clamp = 5000"] == "75.00 ± 7.07%"
    assert pivot(long, "III", "loss").loc["CK", "clamp = 5000"] == "4.00 ± 1.41"
    t4 = pivot(long, "IV", "accuracy")
    assert list(t4.columns) == ["baseline", "clamp = 5000"]
    assert t4.loc["CK", "baseline"] == "40.00%"


def test_paper_reference_matches_the_published_numbers():
    ref = paper_reference().set_index(["table", "metric", "domain", "column"])["value"]
    assert len(ref) == 112
    assert ref["I", "accuracy", "KDEF", "KDEF"] == 87.75
    assert ref["I", "accuracy", "TFEID", "KDEF CK JAFFE TFEID"] == 97.82
    assert ref["I", "loss", "CK", "KDEF CK"] == 0.01
    assert ref["II", "accuracy", "KDEF", "CK"] == 40.81
    assert ref["II", "loss", "JAFFE", "TFEID"] == 13.57
    assert ref["III", "accuracy", "KDEF", "clamp = 5000"] == 79.08
    assert ref["III", "loss", "JAFFE", "clamp = 10000"] == 42.88
    assert ref["IV", "accuracy", "TFEID", "baseline"] == 86.95
    assert ref["IV", "loss", "CK", "clamp = 10000"] == 33.22
    long = build_tables(_metrics(), NAMES)
    cell = pivot(long, "IV", "accuracy", paper_reference()).loc["KDEF", "clamp = 5000"]
    assert cell == "75.00 ± 7.07% (paper: 79.08%)"


def test_proxy_a_distance_separable_vs_identical():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (200, 10))
    assert proxy_a_distance(a, a + 10.0) == pytest.approx(2.0)
    same = proxy_a_distance(a[:100], rng.normal(0, 1, (100, 10)))
    assert -0.5 < same < 0.5
    unequal = proxy_a_distance(a[:150], rng.normal(0, 1, (30, 10)), c=1e-4)
    assert -0.5 < unequal < 0.5  # balanced: predicting the larger set is no evidence


def test_paired_comparison_against_a_hand_count():
    from fer_da.reporting.tables import paired_comparison

    def rows(setup, run, accs):
        return [{"setup": setup, "run": run, "seed": s, "eval_domain": "ck", "role": "target",
                 "split": "test", "accuracy": a} for s, a in enumerate(accs)]

    base = pd.DataFrame(rows("baseline", "kdef", [0.40, 0.50, 0.45]))
    dann = pd.DataFrame(rows("dann", "mcc", [0.50, 0.55, 0.60]))
    out = paired_comparison(base, dann).iloc[0]
    diffs = np.array([10.0, 5.0, 15.0])
    assert out["seeds"] == 3 and out["diff"] == pytest.approx(10.0)
    assert out["diff_std"] == pytest.approx(diffs.std(ddof=1))
    half = 4.302652729911275 * diffs.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((10.0 - half, 10.0 + half))
    assert out["source_only"] == pytest.approx(45.0) and out["adapted"] == pytest.approx(55.0)


def test_method_comparison_against_a_hand_count():
    from fer_da.reporting.tables import method_comparison, method_pivot

    def rows(setup, run, accs, bals):
        return pd.DataFrame([{"setup": setup, "run": run, "seed": s, "eval_domain": "ck",
                              "split": "test", "accuracy": a, "balanced_accuracy": b,
                              "macro_f1": b, "nll": 1.0}
                             for s, (a, b) in enumerate(zip(accs, bals, strict=True))])

    dann = pd.concat([rows("dann", "clamp3", [0.5, 0.7], [0.4, 0.6]),
                      rows("dann", "mcc", [0.2, 0.2], [0.1, 0.1])])
    long = method_comparison({"baseline": rows("baseline", "kdef", [0.4, 0.6], [0.3, 0.5]),
                              "dann": dann, "sna": rows("sna", "kdef", [0.9], [0.8]),
                              "jm": pd.DataFrame()}, {"ck": "CK"})
    got = long.set_index(["method", "metric"])
    assert got.loc[("baseline", "accuracy"), "mean"] == pytest.approx(50.0)
    assert got.loc[("baseline", "accuracy"), "std"] == pytest.approx(np.std([40, 60], ddof=1))
    assert got.loc[("dann/clamp3", "balanced_accuracy"), "mean"] == pytest.approx(50.0)
    assert got.loc[("dann/mcc", "accuracy"), "seeds"] == 2
    assert set(long["method"]) == {"baseline", "dann/clamp3", "dann/mcc", "sna"}
    table = method_pivot(long)
    assert list(table.index) == ["baseline", "dann/clamp3", "dann/mcc", "sna"]
    assert list(table.columns) == ["CK acc", "CK bal acc"]
    assert table.loc["baseline", "CK acc"] == "50.00 ± 14.14%"
    assert table.loc["sna", "CK bal acc"] == "80.00%"  # one seed: no spread shown
