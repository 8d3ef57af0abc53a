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
