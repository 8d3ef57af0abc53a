"""Ingestion pipeline."""

from kedro.pipeline import Pipeline, node, pipeline

from fer_da.ingest.domains import require_images
from fer_da.pipelines.ingestion.nodes import ingest_domains


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(ingest_domains,
             inputs=["raw_domains", "params:domains", "params:labels", "ingestion_index"],
             outputs=["ingested_manifests", "ingestion_rejects", "ingestion_summary",
                      "ingestion_index_new"],
             name="ingest_domains"),
        node(require_images, inputs="ingested_manifests", outputs="manifests",
             name="require_images"),
    ])
