import pytest

from fer_da.datasets import RawDomainsDataset
from fer_da.pipelines.ingestion.nodes import ingest_domains

DOMAINS = {"kdef": {"layout": "kdef", "role": "source", "options": {"angles": ["S"]}},
           "jaffe": {"layout": "jaffe", "role": "target"}}


def test_synthetic_default_ingests_every_label_and_reports_rejects(tmp_path):
    raw = RawDomainsDataset({
        "kdef": {"path": str(tmp_path / "kdef"), "synthetic": {"preset": "kdef", "seed": 1,
                                                               "subjects": 2}},
        "jaffe": {"path": str(tmp_path / "jaffe"), "synthetic": {"preset": "jaffe", "seed": 1,
                                                                 "subjects": 2}},
    }).load()
    manifests, rejects, summary, _ = ingest_domains(raw, DOMAINS, {"keep_contempt": False})
    assert set(manifests) == {"kdef", "jaffe"}
    for m in manifests.values():
        assert m["label"].nunique() == 7 and m["subject"].nunique() == 2
    assert manifests["kdef"]["role"].unique().tolist() == ["source"]
    assert len(manifests["kdef"]) == 2 * 2 * 7
    assert sorted(rejects[["domain", "reason"]].values.tolist()) == [["jaffe", "non_image"],
                                                             ["kdef", "non_image"]]
    s = summary.set_index("domain")
    assert (s["seen"] == s["accepted"] + s["metadata_files"] + s["rejected"]).all()


def test_declared_domain_without_root_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"\[.jaffe.\].*raw_domains"):
        ingest_domains({"kdef": None}, DOMAINS, {})
