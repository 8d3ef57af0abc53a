"""HA-GAN's translation figure: human faces of each domain beside their characters."""

from __future__ import annotations

from typing import Any

from fer_da.facesets import FaceSet
from fer_da.labels import vocabulary
from fer_da.pipelines._types import Figure, TrainedModel


def translation_figure(models: dict[str, TrainedModel], face_sets: dict[str, FaceSet],
                       labels: dict[str, Any], evaluation: dict[str, Any],
                       reporting: dict[str, Any] | None = None, per_cell: int = 4) -> Figure:
    """For the first model (lowest run id): up to ``per_cell`` faces of every domain (under
    its ``reporting.names`` display name) and expression from the first evaluated split,
    each beside the character G draws for it."""
    from fer_da.reporting.figures import translation_grid
    from fer_da.training.evaluate import load_model, translate

    split = list(evaluation.get("splits", ["test"]))[0]
    run_id = min(models)
    model = load_model(models[run_id].model_config, models[run_id].state)
    rows = []
    for domain, fs in sorted(face_sets.items()):
        test = fs.split(split)
        for k, name in enumerate(vocabulary(labels)):
            faces = test.images[test.table["label_idx"].to_numpy() == k][:per_cell]
            if len(faces):
                shown = ((reporting or {}).get("names") or {}).get(domain, domain)
                rows.append((shown, name, faces, translate(model, faces)))
    return translation_grid(rows, f"HA-GAN translation: {run_id} (left: human, right: G)")


def character_figure(characters: dict[str, Any], labels: dict[str, Any]) -> Figure:
    """Several images of every expression of the first characters in HA-GAN's set."""
    from fer_da.reporting.figures import character_grid

    return character_grid(characters["images"], characters["character"],
                          characters["expression"], characters["names"],
                          list(vocabulary(labels)))
