"""Names for the nodes' annotations that resolve without importing torch or matplotlib.

Kedro reads every node's type hints (parameter validation) whenever it lists or runs
pipelines; the classes themselves are imported when a node runs.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fer_da.inference.media import Media
    from fer_da.inference.serving import ServingModel
    from fer_da.training.checkpoints import CheckpointStore
    from fer_da.training.data import DomainData
    from fer_da.training.trained import TrainedModel
else:
    Figure = Media = ServingModel = CheckpointStore = DomainData = TrainedModel = Any

__all__ = ["CheckpointStore", "DomainData", "Figure", "Media", "ServingModel", "TrainedModel"]
