"""Preprocessing pipeline."""

from kedro.pipeline import Pipeline, node, pipeline

from fer_da.pipelines import tags
from fer_da.pipelines.ingestion import create_pipeline as ingestion
from fer_da.pipelines.preprocessing.nodes import (
    contact_sheet,
    detect_faces,
    normalise_faces,
)
from fer_da.preprocess.normalise import require_faces


def create_pipeline(**kwargs) -> Pipeline:
    return ingestion() + pipeline([
        node(detect_faces,
             inputs={"manifests": "manifests", "raw": "raw_domains",
                     "cache": "detection_cache", "params": "params:preprocessing",
                     "domains": "params:domains", "shards": "detection_cache_shards"},
             outputs=["detections", "detection_cache_new"], name="detect_faces"),
        node(normalise_faces,
             inputs=["manifests", "raw_domains", "detections", "params:preprocessing",
                     "params:domains", "params:labels", "params:training",
                     "face_sets_previous"],
             outputs=["normalised_faces", "preprocessing_rejects", "split_summary", "protocol"],
             name="normalise_faces", tags=[tags.PROTOCOL]),
        node(require_faces, inputs="normalised_faces", outputs="face_sets",
             name="require_faces"),
        node(contact_sheet, inputs=["face_sets", "params:reporting"], outputs="contact_sheet",
             name="contact_sheet"),
    ])
