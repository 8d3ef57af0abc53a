"""The training benchmark runs end to end (tiny): it must not rot while no GPU is lent."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_training_benchmark_prints_ratio_and_grid_projection():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "training.py"), "--steps", "2",
         "--batch", "2", "--workers", "0", "--image-size", "32", "--device", "cpu"],
        capture_output=True, text=True, check=True, timeout=300, cwd=ROOT)
    log = out.stdout + out.stderr
    ours = float(re.search(r"fer-da trainer :\s+([\d.]+) images/s", log).group(1))
    ref = float(re.search(r"plain reference:\s+([\d.]+) images/s", log).group(1))
    ratio = float(re.search(r"ratio\s+:\s+([\d.]+)x", log).group(1))
    assert ours > 0 and ref > 0 and abs(ratio - ours / ref) <= 0.01 * ratio + 0.01
    # 1 baseline + 3 joint + 3 fine-tunes + 4 clamps x 2 clamp modes + erm_mixed
    assert "grid of conf/paper: 16 runs" in log
    assert re.search(r"total\s+3430200 training images = 403\.1 PFLOP", log)
    assert "projected at 40% MFU of 989 TFLOP/s: 17.0 min" in log  # 403.1e15 / 0.4 / 989e12
    assert "throughput is not used for the projection" in log  # 32 px slim VGG != the grid's


def _metrics(path, accuracy, digest="d1"):
    import pandas as pd

    rows = [{"setup": "baseline", "run": "src", "seed": s, "split": "test", "eval_domain": d,
             "accuracy": accuracy[s] if d == "tgt" else 0.8, "balanced_accuracy": 0.5,
             "macro_f1": 0.4, "faceset_digest": digest, "config_hash": "h"}
            for s in (0, 1) for d in ("src", "tgt")]
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_compare_envs_pairs_by_seed_and_says_when_numbers_differ(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import compare_envs
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    a = _metrics(tmp_path / "a.csv", {0: 0.30, 1: 0.40})
    assert compare_envs.main([a, _metrics(tmp_path / "b.csv", {0: 0.30, 1: 0.40})]) == 0
    b = _metrics(tmp_path / "c.csv", {0: 0.20, 1: 0.40}, digest="d2")
    table, same = compare_envs.compare(compare_envs._runs(Path(a), "baseline", "test"),
                                       compare_envs._runs(Path(b), "baseline", "test"))
    row = table[(table["domain"] == "tgt") & (table["metric"] == "accuracy")].iloc[0]
    assert (row["seeds"], row["a"], row["b"]) == (2, "35.00 ± 7.07", "30.00 ± 14.14")
    assert row["diff"] == 5.0 and row["max_abs_diff"] == 10.0  # seed 0: 30 - 20, seed 1: 0
    assert same == {"faceset_digest": False, "config_hash": True}
    assert compare_envs.main([a, b]) == 1


def test_frozen_benchmark_prints_a_rate_per_depth(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "frozen.py"), "--freeze", "none,all",
         "--steps", "1", "--batch", "2", "--input-size", "112"],
        capture_output=True, text=True, check=True, timeout=300, cwd=ROOT,
        env={**__import__("os").environ, "FER_DA_CACHE": str(tmp_path)})
    log = out.stdout + out.stderr
    none = float(re.search(r"freeze none\s+training step\s+([\d.]+) img/s", log).group(1))
    frozen = re.search(r"freeze all\s+training step\s+([\d.]+) img/s\s+([\d.]+)x", log)
    assert none > 0 and float(frozen.group(1)) > 0
    ratio = float(frozen.group(1)) / none
    assert abs(float(frozen.group(2)) - ratio) <= 0.06 + 0.05 * ratio  # printed rounded


def test_realdata_training_overrides_are_yaml_values():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from realdata import merged, nested, parse_training
    finally:
        sys.path.pop(0)
    assert parse_training("backbone=dlib_resnet29,pretrained=true,lr=1.0e-2,freeze=all") == {
        "backbone": "dlib_resnet29", "pretrained": True, "lr": 0.01, "freeze": "all"}
    assert parse_training("") == {}
    extra = nested(parse_training("ed2l.setup.options.branch=fc,training.lr=0.1"))
    assert extra == {"ed2l": {"setup": {"options": {"branch": "fc"}}}, "training": {"lr": 0.1}}
    base = {"ed2l": {"setup": {"training": {"epochs": 12}}}, "training": {"seeds": [0]}}
    assert merged(base, extra) == {
        "ed2l": {"setup": {"training": {"epochs": 12}, "options": {"branch": "fc"}}},
        "training": {"seeds": [0], "lr": 0.1}}


def test_side_by_side_pairs_methods_by_seed(tmp_path):
    import pandas as pd

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from side_by_side import load, table
    finally:
        sys.path.pop(0)

    def write(folder, shift):
        folder.mkdir()
        for setup, runs in (("baseline", ["src"]), ("dann", ["erm_mixed", "clamp3"])):
            rows = [{"setup": setup, "run": r, "seed": s, "split": "test", "eval_domain": d,
                     "balanced_accuracy": 0.2 + 0.01 * s + (0.05 if r == "clamp3" else 0)
                     + shift, "accuracy": 0.5, "macro_f1": 0.1}
                    for r in runs for s in (0, 1) for d in ("tgt", "src")]
            pd.DataFrame(rows).to_csv(folder / f"{setup}_metrics.csv", index=False)
        return load(folder)

    md = table({"a": write(tmp_path / "a", 0.1), "b": write(tmp_path / "b", 0.0)}, "tgt", "src")
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in md.splitlines()[2:]}
    assert list(rows) == ["source-only", "erm_mixed", "clamp3"]
    assert rows["clamp3"][1] == "35.5 ± 0.7" and rows["clamp3"][2] == "25.5 ± 0.7"
    assert rows["clamp3"][3] == "+5.0 ± 0.0"  # against erm_mixed, paired by seed
    assert rows["clamp3"][-1].strip(" |") == "+10.0 ± 0.0"  # a − b
