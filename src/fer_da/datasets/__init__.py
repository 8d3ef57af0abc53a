"""Kedro datasets of the project: they own all file I/O of the pipelines."""

from fer_da.datasets.cache import TableCacheDataset
from fer_da.datasets.facesets import FaceSetsDataset
from fer_da.datasets.models import CheckpointStoreDataset, TrainedModelsDataset
from fer_da.datasets.raw import RawDomainsDataset
from fer_da.datasets.tables import TableDataset, TablesDataset

__all__ = ["CheckpointStoreDataset", "FaceSetsDataset", "RawDomainsDataset",
           "TableCacheDataset", "TableDataset", "TablesDataset", "TrainedModelsDataset"]
