"""Ingestion pipeline."""

from kedro.pipeline import Pipeline, node, pipeline

from fer_da.pipelines.ingestion.nodes import ingest_domains


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(ingest_domains, inputs=["raw_domains", "params:domains", "params:labels"],
             outputs=["manifests", "ingestion_rejects", "ingestion_summary"],
             name="ingest_domains"),
    ])
