"""Kedro datasets of the project: they own all file I/O of the pipelines.

Imported on first use (PEP 562): Kedro resolves ``fer_da.datasets.<Name>`` for each catalog
entry, and the model and face-set datasets pull in torch.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "BinaryFileDataset": "binary", "CacheShardsDataset": "cache",
    "CheckpointStoreDataset": "models",
    "FaceSetsDataset": "facesets", "JobTablesDataset": "jobs", "MediaDataset": "media",
    "RawDomainsDataset": "raw", "RunModelsDataset": "models",
    "ServingModelDataset": "models", "TableCacheDataset": "cache", "TableDataset": "tables",
    "TablesDataset": "tables", "TrainedModelsDataset": "models",
}
__all__ = ["BinaryFileDataset", "CacheShardsDataset", "CheckpointStoreDataset", "FaceSetsDataset",
           "JobTablesDataset", "MediaDataset", "RawDomainsDataset", "RunModelsDataset",
           "ServingModelDataset", "TableCacheDataset", "TableDataset", "TablesDataset",
           "TrainedModelsDataset"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
