import numpy as np
import pandas as pd
import pytest

from fer_da.reporting.adistance import proxy_a_distance
from fer_da.reporting.paper_tables import build_tables, paper_reference, pivot

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
    from fer_da.reporting.comparisons import paired_comparison

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
    from fer_da.reporting.comparisons import method_comparison, method_pivot

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


def _paired_rows(setup, run, accs):
    return [{"setup": setup, "run": run, "seed": s, "eval_domain": "ck", "role": "target",
             "split": "test", "accuracy": a} for s, a in enumerate(accs)]


def test_adaptation_is_paired_with_both_controls_by_hand():
    from fer_da.reporting.comparisons import paired_with_controls

    base = pd.DataFrame(_paired_rows("baseline", "kdef", [0.40, 0.50, 0.45]))
    dann = pd.DataFrame(_paired_rows("dann", "erm_mixed", [0.45, 0.60, 0.50])
                        + _paired_rows("dann", "clamp3", [0.50, 0.55, 0.60]))
    out = paired_with_controls(base, dann).set_index(["control", "run"])
    assert set(out.index) == {("source-only", "erm_mixed"), ("source-only", "clamp3"),
                              ("erm_mixed", "clamp3")}
    # clamp3 - source-only: +10, +5, +15; clamp3 - erm_mixed: +5, -5, +10
    assert out.loc[("source-only", "clamp3"), "diff"] == pytest.approx(10.0)
    assert out.loc[("erm_mixed", "clamp3"), "diff"] == pytest.approx(10.0 / 3)
    assert out.loc[("erm_mixed", "clamp3"), "diff_std"] == pytest.approx(
        np.std([5.0, -5.0, 10.0], ddof=1))
    assert out.loc[("erm_mixed", "clamp3"), "source_only"] == pytest.approx(155.0 / 3)
    assert out.loc[("source-only", "erm_mixed"), "diff"] == pytest.approx(20.0 / 3)
    only = paired_with_controls(base, dann[dann["run"] == "clamp3"])
    assert set(only["control"]) == {"source-only"}  # no erm_mixed run, no such rows


def test_an_adabn_run_is_paired_with_the_adabn_twin_of_the_control():
    from fer_da.reporting.comparisons import paired_with_controls

    base = pd.DataFrame(_paired_rows("baseline", "kdef", [0.40, 0.50, 0.45]))
    dann = pd.DataFrame(_paired_rows("dann", "erm_mixed", [0.45, 0.60, 0.50])
                        + _paired_rows("dann", "erm_mixed_adabn", [0.55, 0.65, 0.60])
                        + _paired_rows("dann", "clamp3", [0.50, 0.55, 0.60])
                        + _paired_rows("dann", "clamp3_adabn", [0.60, 0.70, 0.65]))
    out = paired_with_controls(base, dann).set_index(["control", "run"])
    mixed = {r for c, r in out.index if c == "erm_mixed"}
    twin = {r for c, r in out.index if c == "erm_mixed_adabn"}
    assert mixed == {"clamp3"} and twin == {"clamp3_adabn"}
    # clamp3_adabn - erm_mixed_adabn: +5, +5, +5 (against erm_mixed it would be +15)
    assert out.loc[("erm_mixed_adabn", "clamp3_adabn"), "diff"] == pytest.approx(5.0)
    old = paired_with_controls(base, dann[dann["run"] != "erm_mixed_adabn"])
    label = old.loc[old["run"] == "clamp3_adabn", "control"]
    paired_with_mixed = label[label != "source-only"]
    assert len(paired_with_mixed) == 1 and paired_with_mixed.str.contains("no AdaBN twin").all()


def _history(run, seed, flags):
    return [{"setup": "dann", "run": run, "seed": seed, "run_id": f"dann/{run}/seed{seed}",
             "epoch": e + 1, "dmn_acc": 0.25, "dmn_majority": 0.99 if f else 0.3,
             "clamped_frac": 0.0, "collapsed": float(f), "collapse": "one_domain" if f else ""}
            for e, f in enumerate(flags)]


def test_collapsed_runs_are_summarised_and_marked_in_the_tables():
    from fer_da.reporting.comparisons import method_comparison
    from fer_da.reporting.mechanisms import collapse_summary, collapsed_runs
    history = pd.DataFrame(_history("clamp1", 0, [0, 0, 1, 1]) + _history("clamp1", 1, [0] * 4)
                           + _history("clamp5000", 0, [0] * 4)
                           + [{"setup": "dann", "run": "erm_mixed", "seed": 0,
                               "run_id": "dann/erm_mixed/seed0", "epoch": 1}])
    summary = collapse_summary(history).set_index("run_id")
    assert list(summary.index) == ["dann/clamp1/seed0", "dann/clamp1/seed1",
                                   "dann/clamp5000/seed0"]  # erm_mixed has no adversary
    assert summary.loc["dann/clamp1/seed0", "collapsed_epochs"] == "3 4"
    assert summary.loc["dann/clamp1/seed0", "reasons"] == "one_domain"
    assert summary.loc["dann/clamp1/seed1", "collapsed_epochs"] == ""
    marked = collapsed_runs(summary.reset_index())
    assert marked == {("dann", "clamp1")}
    metrics = _metrics()
    metrics["dann"] = pd.concat([metrics["dann"], pd.DataFrame(
        [_m("dann", "clamp1", 0, d, 0.5, 1.0) for d in ("kdef", "ck")])])
    long = build_tables(metrics, NAMES, collapsed=marked)
    columns = set(long[long["table"] == "III"]["column"])
    assert columns == {"clamp = 1 †", "clamp = 5000"}
    methods = method_comparison({"dann": metrics["dann"].assign(balanced_accuracy=0.5,
                                                                macro_f1=0.5)},
                                NAMES, collapsed=marked)
    assert set(methods["method"]) == {"dann/clamp1 †", "dann/clamp5000"}
    assert collapse_summary(pd.DataFrame(_history("x", 0, [0])).drop(
        columns=["collapsed"])).empty


def test_the_dagger_follows_the_epoch_the_reported_model_was_kept_from():
    """Collapsed at epochs 3-4 of 6 (not the last, under half): a model kept from epoch 4
    is a collapsed adversary's (†), one kept from epoch 6 is not."""
    from fer_da.reporting.mechanisms import collapse_summary, flagged, kept_epochs

    history = pd.DataFrame(_history("clamp1", 0, [0, 0, 1, 1, 0, 0])
                           + _history("clamp1", 1, [0, 0, 1, 1, 0, 0]))
    metrics = pd.DataFrame([{"run_id": "dann/clamp1/seed0", "selected_epoch": 4.0},
                            {"run_id": "dann/clamp1/seed1", "selected_epoch": 6.0}])
    assert kept_epochs(metrics) == {"dann/clamp1/seed0": 4, "dann/clamp1/seed1": 6}
    summary = collapse_summary(history, kept_epochs(metrics))
    assert summary["kept_epoch"].tolist() == [4, 6]
    assert flagged(summary).tolist() == [True, False]
    assert flagged(collapse_summary(history)).tolist() == [False, False]  # last epoch: 6


def test_collapse_marks_survive_a_csv_round_trip_and_need_a_lasting_collapse(tmp_path):
    """The catalog writes the summary as csv and reads it back ("" -> NaN): a live run must
    stay unmarked. A run flagged early that recovers is listed but not marked."""
    from fer_da.reporting.mechanisms import collapse_summary, collapsed_runs
    history = pd.DataFrame(_history("live", 0, [0] * 6) + _history("early", 0, [0, 0, 1, 0, 0, 0])
                           + _history("dead", 0, [0, 0, 1, 1, 1, 1])
                           + _history("last", 0, [0, 0, 0, 0, 0, 1]))
    path = tmp_path / "collapse_summary.csv"
    collapse_summary(history).to_csv(path, index=False)
    back = pd.read_csv(path)
    assert back["collapsed_epochs"].isna().sum() == 1  # the live run's "" came back NaN
    assert collapsed_runs(back) == {("dann", "dead"), ("dann", "last")}


def test_report_html_renders_emphasis_and_leaves_out_empty_columns():
    from fer_da.reporting.report import drop_empty as _drop_empty
    from fer_da.reporting.report import inline_html as _inline_html
    assert _inline_html("on the **test** split, `a<b`") == (
        "on the <strong>test</strong> split, <code>a&lt;b</code>")
    frame = pd.DataFrame({"diff": [1.0, 2.0], "diff_std": [np.nan, np.nan],
                          "note": ["", ""], "seeds": [1, 1]})
    assert list(_drop_empty(frame).columns) == ["diff", "seeds"]


def test_run_labels_name_the_control_and_the_clamp_mode():
    from fer_da.reporting.paper_tables import _column_key, _column_label
    assert _column_label("dann", "erm_mixed", {}) == "source-only, mixed batches"
    assert _column_label("dann", "clamp3_paper", {}) == "clamp = 3 (paper clamp)"
    assert _column_label("dann", "cdan_e_clamp3_paper_adabn", {}) == (
        "cdan_e clamp = 3 (paper clamp) + AdaBN")
    order = sorted(["clamp3_paper", "clamp3", "erm_mixed", "clamp1", "clamp3_adabn"],
                   key=lambda r: _column_key("dann", r, []))
    assert order == ["erm_mixed", "clamp1", "clamp3", "clamp3_paper", "clamp3_adabn"]


def test_mechanism_summary_reads_each_methods_diagnostic():
    from fer_da.reporting.mechanisms import mechanism_summary

    def hist(setup, **cols):
        n = len(next(iter(cols.values())))
        return pd.DataFrame({"run_id": [f"{setup}/kdef/seed0"] * n, "epoch": range(1, n + 1),
                             **cols})
    out = mechanism_summary({
        "atf": hist("atf", id_acc=[0.4, 0.1]),
        "sna": hist("sna", masked=[0.5, 0.3]),
        "hagan": hist("hagan", g_diversity=[0.2, 0.01], real_diversity=[0.4, 0.5]),
        "jm": pd.DataFrame()}).set_index("setup")
    assert list(out.index) == ["atf", "sna", "hagan"]
    assert (out.loc["atf", "first_epoch"], out.loc["atf", "last_epoch"]) == (0.4, 0.1)
    assert out.loc["hagan", "diagnostic"] == "g_diversity_ratio"
    assert out.loc["hagan", "first_epoch"] == pytest.approx(0.5)
    assert out.loc["hagan", "last_epoch"] == pytest.approx(0.02)


def test_cdfer_reference_matches_the_published_readme_cell_by_cell():
    """HCPLab-SYSU/CD-FER-Benchmark README (commit bdd4bf2), RAF source: spot cells as
    printed there, and every row's mean is the mean of its five targets (a typo shows)."""
    from fer_da.reporting.cdfer import CDFER_TARGETS, cdfer_reference

    ref = cdfer_reference().set_index(["backbone", "method"])
    assert len(ref) == 20 and set(ref["source_domain"]) == {"RAF"}
    printed = {("ResNet-50", "AGRA"): [85.27, 61.50, 56.43, 58.95, 68.50, 66.13],
               ("ResNet-50", "CADA"): [72.09, 52.11, 53.44, 57.61, 63.15, 59.68],
               ("ResNet-50", "SAFN"): [75.97, 61.03, 52.98, 55.64, 64.91, 62.11],
               ("ResNet-18", "AGRA"): [77.52, 61.03, 52.75, 54.94, 69.70, 63.19],
               ("ResNet-18", "DETN"): [64.19, 52.11, 42.25, 42.01, 43.92, 48.90]}
    for key, cells in printed.items():
        assert ref.loc[key, [*CDFER_TARGETS, "Mean"]].tolist() == cells, key
    means = ref[list(CDFER_TARGETS)].mean(axis=1)
    assert np.abs(means - ref["Mean"]).max() <= 0.011


def test_our_methods_sit_beside_the_benchmark_on_shared_targets():
    from fer_da.reporting.report import Section, to_html, to_markdown
    from fer_da.reporting.sections import cdfer

    def _cdfer_section(methods, reporting, protocol):
        """(Markdown blocks, HTML) of the benchmark section, as the report renders it."""
        sections = cdfer(methods, reporting, protocol)
        assert [s.title for s in sections] == ["Cross-domain FER benchmark beside fer-da"]
        md = [sections[0].title, ""]
        for block in to_markdown("t", "i", sections).split("\n\n")[3:]:
            md += [block, ""]
        return md, to_html("t", "i", sections)

    from fer_da.reporting.cdfer import beside_cdfer, cdfer_reference

    assert Section  # the section model the report renders
    methods = pd.DataFrame([
        {"method": "baseline", "domain": d, "metric": m, "mean": v, "std": 0.0, "seeds": 2}
        for d, m, v in (("CK", "accuracy", 61.0), ("JAFFE", "accuracy", 40.0),
                        ("KDEF", "accuracy", 90.0), ("CK", "balanced_accuracy", 1.0))])
    table = beside_cdfer(methods, cdfer_reference(), "ResNet-50", "fer-da (stand-ins)")
    assert table.loc[("fer-da (stand-ins)", "baseline"), "CK+"] == 61.0  # CK is CK+
    assert table.loc[("fer-da (stand-ins)", "baseline"), "JAFFE"] == 40.0
    assert np.isnan(table.loc[("fer-da (stand-ins)", "baseline"), "ExpW"])
    assert "KDEF" not in table.columns  # not a benchmark target
    assert table.loc[("published, ResNet-50", "AGRA"), "CK+"] == 85.27
    assert len(table) == 11
    synthetic = _protocol(data="synthetic")
    md, html = _cdfer_section(methods, {"reference": "cdfer"}, synthetic)
    assert "Synthetic stand-ins" in md[2] and "no source-only or DANN row" in md[2]
    assert "fer-da (synthetic stand-ins)" in html and "fer-da (synthetic stand-ins)" in md[4]
    md, _ = _cdfer_section(methods, {"reference": "cdfer", "reference_backbone": "ResNet-18"},
                           _protocol(data="real"))
    assert "ResNet-18" in md[2] and "stand-ins" not in md[4]
    mixed = _protocol(data="real")
    mixed.loc[mixed["domain"] == "jaffe", "data"] = "synthetic"  # one stand-in marks all
    md, _ = _cdfer_section(methods, {"reference": "cdfer"}, mixed)
    assert "fer-da (synthetic stand-ins)" in md[4]
    assert "Synthetic stand-ins, not the benchmark's datasets: jaffe " in md[2]


def _protocol(data: str) -> pd.DataFrame:
    return pd.DataFrame([
        {"domain": "rafdb", "split_mode": "source", "n_test": 60, "data": data},
        {"domain": "ckplus", "split_mode": "subject", "n_test": 30, "data": data},
        {"domain": "jaffe", "split_mode": "transductive", "n_test": 213, "data": data},
        {"domain": "sfew", "split_mode": "random", "n_test": 70, "data": data},
        {"domain": "kdef", "split_mode": "subject", "n_test": 50, "data": data}])


def test_the_benchmark_test_sets_say_which_are_the_benchmarks():
    from fer_da.reporting.cdfer import cdfer_test_sets

    sets = cdfer_test_sets(_protocol("real")).set_index("dataset")
    assert list(sets.index) == ["RAF-DB", "CK+", "JAFFE", "SFEW2.0"]  # kdef is none
    assert sets.loc["JAFFE", "same test set"].startswith("yes")
    assert sets.loc["RAF-DB", "same test set"].startswith("yes")
    assert sets.loc["CK+", "same test set"] == ("no: the benchmark's list is not in the "
                                                "dataset's release")
    assert sets.loc["SFEW2.0", "same test set"] == "no: split mode source reproduces it"
    assert sets.loc["JAFFE", "this run's"] == "split transductive: 213 test faces"
    assert "213" in sets.loc["JAFFE", "benchmark's test set"]
    stand_ins = cdfer_test_sets(_protocol("synthetic"))
    assert (stand_ins["same test set"] == "no: a synthetic stand-in").all()
    named = cdfer_test_sets(_protocol("real").replace({"domain": {"rafdb": "raf_src"}}),
                            {"raf_src": "RAF-DB"})
    assert "RAF-DB" in set(named["dataset"])  # found by its display name


def test_two_domains_on_one_benchmark_target_are_refused():
    from fer_da.reporting.cdfer import beside_cdfer, cdfer_reference

    methods = pd.DataFrame([{"method": "baseline", "domain": d, "metric": "accuracy",
                             "mean": 50.0} for d in ("CK", "ckplus")])
    with pytest.raises(ValueError, match="several domains map to one benchmark target"):
        beside_cdfer(methods, cdfer_reference())


@pytest.mark.slow
def test_reporting_runs_after_dann_alone(tmp_path):
    """The README's main job (``--pipelines=dann``), then ``--pipelines=reporting``: the
    baseline never ran, its metrics load as a frame without columns."""
    from tests.conftest import make_tiny_project, run_in_project

    root = make_tiny_project(tmp_path / "project")
    run_in_project(root, "tiny", "dann", {"dann": {"setup": {"clamps": [3.0]}}})
    run_in_project(root, "tiny", "reporting")
    html = (root / "data" / "08_reporting" / "report.html").read_text()
    assert "erm_mixed" in html and "dann" in html


def test_the_headline_counts_every_run_against_the_control_and_names_are_one():
    from fer_da.reporting.sections import a_distances, headline, paired

    table = pd.DataFrame([
        {"control": "erm_mixed", "domain": "ckplus", "run": "clamp3", "diff": 2.5,
         "ci_low": 0.5, "ci_high": 4.5},
        {"control": "erm_mixed", "domain": "ckplus", "run": "mcc", "diff": -3.0,
         "ci_low": -5.0, "ci_high": -1.0},
        {"control": "erm_mixed", "domain": "ckplus", "run": "im", "diff": 0.4,
         "ci_low": -1.0, "ci_high": 1.8},
        {"control": "source-only", "domain": "ckplus", "run": "clamp3", "diff": 9.0,
         "ci_low": 8.0, "ci_high": 10.0}])
    text = headline(table, "balanced_accuracy")
    assert "gains — clamp3 on ckplus +2.5; losses — mcc on ckplus -3.0" in text
    assert "1 of 3 run × target pairs within noise" in text  # source-only rows not counted
    one_seed = table.assign(ci_low=np.nan, ci_high=np.nan)
    assert "one seed only" in headline(one_seed, "accuracy")
    assert headline(pd.DataFrame(), "accuracy") == ""
    names = {"ckplus": "CK+"}
    shown = paired(table, "accuracy", names)[0].blocks[1]
    assert set(shown.index.get_level_values("domain")) == {"CK+"}  # one name per dataset
    adist = pd.DataFrame([{"run_id": "dann/clamp3/seed0", "target": "ckplus",
                           "a_distance": 1.0, "a_distance_weak_probe": 0.5}])
    assert list(a_distances(adist, names)[0].blocks[1].columns) == ["CK+ (C=1)",
                                                                    "CK+ (C=1e-4)"]


def test_figures_name_what_they_draw():
    from fer_da.reporting.figures import confusion_grid, loss_curves

    history = pd.DataFrame([{"run": run, "epoch": e, "clf_loss": 1.0 / e,
                             "dmn_loss": (0.7 if run == "clamp3" else np.nan),
                             "clamp_limit": (3.0 if run == "clamp3" else np.nan),
                             "lambda": 0.5} for run in ("clamp3", "erm_mixed")
                            for e in (1, 2)])
    fig = loss_curves(history)
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes[:3]]
    assert legends[0] == ["clamp3"]  # erm_mixed has no domain loss: no entry for it
    assert legends[1] == ["clamp3", "erm_mixed"]
    assert legends[2] == ["clamp3 clamp limit"]
    preds = pd.DataFrame({"eval_domain": "tgt", "label_idx": [0, 1, 2], "pred_idx": [0, 2, 2]})
    ax = confusion_grid(preds, ["anger", "disgust", "fear"], "r").axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["anger", "disgust", "fear"]


def test_confusion_matrices_are_two_to_a_row_under_display_names_in_class_order():
    from fer_da.reporting.figures import confusion_grid

    preds = pd.DataFrame({"eval_domain": ["ckplus"] * 3 + ["jaffe"] * 2 + ["kdef"],
                          "label_idx": [0, 1, 2, 2, 2, 1], "pred_idx": [0, 2, 2, 2, 1, 1]})
    fig = confusion_grid(preds, ["neutral", "anger", "fear"], "dann/clamp3/seed0",
                         {"ckplus": "CK+"})
    drawn = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in drawn] == ["CK+ (67% of 3)", "jaffe (50% of 2)",
                                                "kdef (100% of 1)"]
    assert len(fig.axes) == 4 and not fig.axes[3].axison  # 2 x 2, the fourth cell empty
    assert [t.get_text() for t in drawn[0].get_xticklabels()] == ["neutral", "anger", "fear"]
    width, height = fig.get_size_inches()
    assert width == pytest.approx(2 * 4.6) and height == pytest.approx(2 * 4.4)


def test_html_tables_fit_the_page_and_the_provenance_has_a_column_per_id():
    from fer_da.reporting.report import html_table
    from fer_da.reporting.sections import provenance

    table = pd.DataFrame([{"provenance": f"P{i}", "faceset_version": "2026-12-05T02.58.04",
                           "git_commit": "5f371e2" * 6, "setups": "dann"} for i in (1, 2)])
    fields = provenance(table)[0].blocks[1]
    assert list(fields.columns) == ["P1", "P2"]
    assert list(fields.index) == ["faceset_version", "git_commit", "setups"]
    html = html_table(fields)
    assert html.startswith("<div class='table'>")  # scrolls sideways, never leaves the page
    assert "<th>field</th>" in html and html.count("<tr") == 4  # no header row of its own
    assert "<th>P1</th>" in html and "<td>faceset_version</td>" in html
    wide = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples(
        [("CK", "acc"), ("CK", "bal")], names=["domain", "metric"]),
        index=pd.Index(["dann"], name="run"))
    assert "<th></th>" not in html_table(wide)  # no header column of the levels' names
    assert "<th>CK acc</th>" in html_table(wide)
    clash = pd.DataFrame({"run": ["x"]}, index=pd.Index(["dann"], name="run"))
    assert html_table(clash).count("<th>run</th>") == 2  # an index named as a column


def test_figures_of_runs_come_in_natural_order():
    from fer_da.pipelines.reporting.nodes import run_order

    names = ["confusion_dann_clamp3000_seed0.png", "confusion_dann_clamp3_seed0.png",
             "confusion_dann_clamp1_seed10.png", "confusion_dann_clamp1_seed2.png",
             "confusion_dann_clamp0.5_seed0.png", "confusion_dann_clamp0.25_seed0.png",
             "confusion_dann_erm_mixed_seed0.png"]
    unions = ["confusion_joint_kdef+ckplus+jaffe+tfeid_seed0.png",
              "confusion_joint_kdef+ckplus+jaffe_seed0.png",
              "confusion_joint_kdef+ckplus_seed0.png"]
    assert sorted(unions, key=run_order) == unions[::-1]  # Table I's growing unions
    assert sorted(names, key=run_order) == [
        "confusion_dann_clamp0.25_seed0.png", "confusion_dann_clamp0.5_seed0.png",
        "confusion_dann_clamp1_seed2.png", "confusion_dann_clamp1_seed10.png",
        "confusion_dann_clamp3_seed0.png", "confusion_dann_clamp3000_seed0.png",
        "confusion_dann_erm_mixed_seed0.png"]
