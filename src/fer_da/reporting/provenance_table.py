"""What every reported number traces back to: one id (P1, P2, …) per distinct face-set
version and code digest, with the setups whose numbers it produced."""

from __future__ import annotations

import pandas as pd

PROVENANCE_KEYS = ("faceset_version", "source_digest")


PROVENANCE_SHOWN = ("faceset_version", "source_digest", "git_commit", "git_dirty", "device",
                    "precision", "model_version", "tta")


def provenance_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct (face-set version, source digest): an id ``P1``, ``P2``, … with
    what it stands for and the setups whose numbers it produced."""
    if not len(metrics) or not {"setup", "run_id"} <= set(metrics.columns):
        return pd.DataFrame(columns=["provenance", *PROVENANCE_KEYS, *PROVENANCE_SHOWN[2:],
                                     "setups", "models"])
    m = metrics.copy()
    for col in PROVENANCE_SHOWN:
        if col not in m:
            m[col] = None
    m[list(PROVENANCE_SHOWN)] = m[list(PROVENANCE_SHOWN)].astype(object).where(
        m[list(PROVENANCE_SHOWN)].notna(), "unknown").astype(str)
    groups = m.groupby(list(PROVENANCE_KEYS), sort=True)
    rows = []
    for i, (key, g) in enumerate(groups, start=1):
        row = {"provenance": f"P{i}", **dict(zip(PROVENANCE_KEYS, key, strict=True))}
        for col in PROVENANCE_SHOWN[2:]:
            row[col] = ", ".join(sorted(set(g[col])))
        row["setups"] = ", ".join(sorted(set(g["setup"])))
        row["models"] = g["run_id"].nunique()
        rows.append(row)
    return pd.DataFrame(rows)


def tag_provenance(metrics: pd.DataFrame, summary: pd.DataFrame) -> pd.Series:
    """The provenance id of each metrics row."""
    keys = {tuple(r[k] for k in PROVENANCE_KEYS): r["provenance"]
            for r in summary.to_dict("records")}
    m = metrics.reindex(columns=list(PROVENANCE_KEYS)).astype(object)
    m = m.where(m.notna(), "unknown").astype(str)
    return pd.Series([keys[tuple(r)] for r in m.itertuples(index=False)], index=metrics.index)
