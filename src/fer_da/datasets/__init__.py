"""Kedro datasets of the project: they own all file I/O of the pipelines.

Imported on first use (PEP 562): Kedro resolves ``fer_da.datasets.<Name>`` for each catalog
entry, and the model and face-set datasets pull in torch.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "BinaryFileDataset": "binary_dataset", "CacheShardsDataset": "cache_dataset",
    "CheckpointStoreDataset": "models_dataset", "FaceSetsDataset": "facesets_dataset",
    "JobTablesDataset": "jobs_dataset", "MediaDataset": "media_dataset",
    "RawDomainsDataset": "raw_dataset", "RunModelsDataset": "models_dataset",
    "ServingModelDataset": "models_dataset", "TableCacheDataset": "cache_dataset",
    "TableDataset": "tables_dataset", "TablesDataset": "tables_dataset",
    "TrainedModelsDataset": "models_dataset",
}
__all__ = ["BinaryFileDataset", "CacheShardsDataset", "CheckpointStoreDataset", "FaceSetsDataset",
           "JobTablesDataset", "MediaDataset", "RawDomainsDataset", "RunModelsDataset",
           "ServingModelDataset", "TableCacheDataset", "TableDataset", "TablesDataset",
           "TrainedModelsDataset"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
