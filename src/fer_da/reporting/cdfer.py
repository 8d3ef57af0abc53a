"""The cross-domain FER benchmark (Chen et al.): its published accuracies beside this run's
methods, and its test set per dataset beside this run's."""

from __future__ import annotations

from importlib import resources

import pandas as pd

CDFER_TARGETS = ("CK+", "JAFFE", "SFEW2.0", "FER2013", "ExpW")


CDFER_SOURCE = ("Chen et al., cross-domain FER benchmark, README of HCPLab-SYSU/"
                "CD-FER-Benchmark at bdd4bf2: RAF-DB source, accuracy % on each target")


# a domain's name (or its display name) -> the benchmark's target column
CDFER_ALIASES = {"ck": "CK+", "ckplus": "CK+", "jaffe": "JAFFE", "sfew": "SFEW2.0",
                 "sfew20": "SFEW2.0", "fer2013": "FER2013", "expw": "ExpW"}


def cdfer_reference() -> pd.DataFrame:
    """The benchmark's published accuracies (:data:`CDFER_SOURCE`): one row per backbone
    and method, the five targets and their mean. It publishes no source-only or DANN row."""
    with resources.files("fer_da.reporting").joinpath("cdfer_reference.csv").open() as f:
        return pd.read_csv(f)


# The benchmark's test set per dataset (its code, BulidDataloader's test branch, at d825cb8)
# and the fer-da split mode that reproduces it from the dataset's own release (None: its
# list ships with the benchmark's data package, not with the dataset).
CDFER_TEST_SETS = {
    "RAF-DB": ("its test_ images (source; the release's boxes on the original images)",
               "source"),
    "CK+": ("its own CK+ Val list (129 faces by the published accuracies)", None),
    "JAFFE": ("all 213 images, also the unlabelled training pool (transductive)",
              "transductive"),
    "SFEW2.0": ("the Val set (the release's 436 faces with the benchmark's boxes)", "source"),
    "FER2013": ("its own val_list.txt", None),
    "ExpW": ("its own val list", None),
}


def _key(name: str) -> str:
    return "".join(c for c in str(name).lower() if c.isalnum())


def _cdfer_target(name: str) -> str | None:
    return CDFER_ALIASES.get(_key(name))


def cdfer_test_sets(protocol: pd.DataFrame, names: dict[str, str] | None = None
                    ) -> pd.DataFrame:
    """Per benchmark dataset this run has: the benchmark's test set, this run's (split
    mode, test faces, real or synthetic) and whether they are the same protocol."""
    names = names or {}
    rows = []
    for rec in protocol.to_dict("records"):
        domain = str(rec["domain"])
        bench = ("RAF-DB" if _key(domain) in ("rafdb", "raf") or
                 _key(names.get(domain, "")) in ("rafdb", "raf")
                 else _cdfer_target(domain) or _cdfer_target(names.get(domain, "")))
        if bench is None:
            continue
        theirs, mode = CDFER_TEST_SETS[bench]
        ours = f"split {rec.get('split_mode')}: {int(rec.get('n_test', 0))} test faces"
        if rec.get("data") == "synthetic":
            same = "no: a synthetic stand-in"
        elif mode is None:
            same = "no: the benchmark's list is not in the dataset's release"
        elif rec.get("split_mode") == mode:
            same = "yes (preprocessing may differ: docs/labs.md)"
        else:
            same = f"no: split mode {mode} reproduces it"
        rows.append({"dataset": bench, "domain": domain, "benchmark's test set": theirs,
                     "this run's": ours, "data": rec.get("data", "real"),
                     "same test set": same})
    return pd.DataFrame(rows, columns=["dataset", "domain", "benchmark's test set",
                                       "this run's", "data", "same test set"])


def beside_cdfer(methods: pd.DataFrame, reference: pd.DataFrame, backbone: str = "ResNet-50",
                 ours: str = "fer-da") -> pd.DataFrame:
    """The benchmark's rows for ``backbone`` and this run's methods (accuracy, mean over
    seeds) on the targets both have; ``ours`` labels this run's rows (e.g. ``fer-da
    (synthetic stand-ins)``). Rows: (kind, method); columns: the benchmark's targets."""
    published = reference[reference["backbone"] == backbone].set_index("method")
    rows = {("published, " + backbone, m): published.loc[m, list(CDFER_TARGETS)].astype(float)
            for m in published.index}
    if len(methods):
        acc = methods[methods["metric"] == "accuracy"].assign(
            target=lambda f: f["domain"].map(_cdfer_target)).dropna(subset=["target"])
        twice = acc.groupby("target")["domain"].unique()
        twice = {t: sorted(map(str, d)) for t, d in twice.items() if len(d) > 1}
        if twice:
            raise ValueError(f"several domains map to one benchmark target: {twice}; rename "
                             "them (reporting.names) so that one domain is each target")
        for method, group in acc.groupby("method", sort=False):
            rows[(ours, method)] = group.set_index("target")["mean"].reindex(
                list(CDFER_TARGETS)).astype(float)
    if not rows:
        return pd.DataFrame(columns=list(CDFER_TARGETS))
    out = pd.DataFrame(rows).T
    out.index.names = ["kind", "method"]
    return out.round(2)
