"""Preprocessing pipeline."""

from kedro.pipeline import Pipeline, node, pipeline

from fer_da.pipelines.ingestion import create_pipeline as ingestion
from fer_da.pipelines.preprocessing.nodes import contact_sheet, detect_faces, normalise_faces


def create_pipeline(**kwargs) -> Pipeline:
    return ingestion() + pipeline([
        node(detect_faces,
             inputs=["manifests", "raw_domains", "detection_cache", "params:preprocessing"],
             outputs=["detections", "detection_cache_new"], name="detect_faces"),
        node(normalise_faces,
             inputs=["manifests", "raw_domains", "detections", "params:preprocessing",
                     "params:labels"],
             outputs=["face_sets", "preprocessing_rejects", "split_summary"],
             name="normalise_faces"),
        node(contact_sheet, inputs="face_sets", outputs="contact_sheet", name="contact_sheet"),
    ])
