"""fer-da: facial expression recognition with unsupervised domain adaptation."""

import warnings as _warnings

__version__ = "0.3.0"

# third-party notices a user can do nothing about (docs/results.md, "Tracking and
# lineage"): Kedro's and kedro-mlflow's own use of a deprecated OmegaConf call, Kedro's
# advice against the dotted names its own namespaces make, MLflow's type-hint advice for
# the model kedro-mlflow builds. Set here, on the first import of the package.
for _message in (r"register_new_resolver\(\) is deprecated",
                 r"One or more dataset names contain '\.' characters",
                 r".*Add type hints to the `predict` method"):
    _warnings.filterwarnings("ignore", message=_message, category=UserWarning)

from fer_da.log_filters import install as _install_log_filter  # noqa: E402

_install_log_filter()  # the notices MLflow raises past the filters above
