"""Experiment tracking through hooks: nodes never import mlflow.

kedro-mlflow opens one MLflow run per ``kedro run`` (named after the pipeline). This hook adds
a nested run per trained model with its plan as parameters, its per-epoch history as
step metrics, its final accuracy/NLL per evaluated domain, and later its t-SNE and confusion
figures as artifacts.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import time
from typing import Any

from kedro.framework.hooks import hook_impl
from tqdm.auto import tqdm

from fer_da.digest import registration_key
from fer_da.pipelines import tags
from fer_da.training.diagnostics import collapsed_epochs
from fer_da.training.events import EPOCH, START, subscribe

logger = logging.getLogger(__name__)
SCORES = ("accuracy", "balanced_accuracy", "macro_f1", "nll")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) or (
        hasattr(value, "item") and not isinstance(value, str))


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:250]
    return out


class TrainingTrackingHooks:
    def __init__(self):
        self._mlflow_ids: dict[str, str] = {}  # our run_id -> MLflow run id
        self._serving: dict[str, str] = {}  # setup -> registration key of what it serves now
        self._live: set[str] = set()  # runs whose epochs were logged while they trained
        self._dataset: Any = None  # the face sets as an MLflow dataset (this run's)
        self._run_params: dict[str, Any] = {}
        self._unsubscribe: Any = None

    @staticmethod
    def _mlflow():
        if "mlflow" not in sys.modules:  # not imported: no run is active (an untracked run)
            return None
        import mlflow

        return mlflow if mlflow.active_run() is not None else None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                            catalog: Any) -> None:
        self._mlflow_ids, self._serving = {}, {}  # one session's runs, not an earlier one's
        self._live, self._dataset = set(), None
        self._run_params = run_params  # the parent run is named at the first epoch
        if self._unsubscribe is None:  # each epoch's record to MLflow as the run trains
            self._unsubscribe = subscribe(self._log_epoch)

    def _log_epoch(self, run_id: str, record: dict[str, Any]) -> None:
        """One epoch of a run still training: its losses and diagnostics as step metrics of
        the run's nested MLflow run (created at its first epoch)."""
        mlflow = self._mlflow()
        if mlflow is None:
            return
        from mlflow.entities import Metric

        client, parent = mlflow.tracking.MlflowClient(), mlflow.active_run()
        if not self._mlflow_ids:  # a job still training reads "<env>: <pipelines>" too
            self._name_run(run_env(self._run_params), self._run_params)
        if run_id not in self._mlflow_ids:
            run = client.create_run(parent.info.experiment_id, run_name=run_id,
                                    tags={"mlflow.parentRunId": parent.info.run_id,
                                          "fer_da.run_id": run_id})
            self._mlflow_ids[run_id] = run.info.run_id
        self._live.add(run_id)
        step, now = int(record["epoch"]), int(time.time() * 1000)
        client.log_batch(self._mlflow_ids[run_id], metrics=[
            Metric(k, float(v), now, step) for k, v in record.items()
            if k != "epoch" and _number(v) and math.isfinite(float(v))])

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any],
                          pipeline: Any, catalog: Any) -> None:
        self._stop_listening()

    def _stop_listening(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @hook_impl
    def after_node_run(self, node, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """What to log is read from the node's tags (``pipelines/tags.py``) and its datasets,
        never from its name."""
        first = outputs.get(node.outputs[0]) if node.outputs else None
        if tags.MODELS in node.tags:
            self._log_models(node.namespace, inputs, outputs)
        if tags.PROTOCOL in node.tags:
            named = {o.rsplit(".", 1)[-1]: outputs[o] for o in node.outputs}
            self._log_protocol(named["protocol"], named["split_summary"])
        for tag, kind in ((tags.TSNE, "tsne"), (tags.CONFUSION, "confusion")):
            if tag in node.tags:
                self._log_figures(first, kind)
        if tags.SERVING in node.tags:
            self._log_serving(node.namespace, first)
        if tags.TRANSLATION in node.tags and self._mlflow() is not None:
            self._mlflow().log_figure(first, "hagan_translation.png")

    def _log_serving(self, namespace: str, serving: Any) -> None:
        """The serving model's card (run id, classes, preprocessing, TTA, how it was chosen,
        provenance of its training data) beside the MLflow model the run logs."""
        mlflow = self._mlflow()
        if mlflow is None:
            return
        from fer_da.datasets.models_dataset import registration_digest, serving_digest
        from fer_da.provenance import code_provenance

        card = {k: v for k, v in serving.metadata().items() if k != "plan"}
        mlflow.log_dict(card, f"serving/{namespace}.json")
        digest = serving_digest(serving)
        self._serving[namespace] = registration_key(registration_digest(serving),
                                                    code_provenance())
        mlflow.set_tags({f"serving.{namespace}.digest": digest,
                         f"serving.{namespace}.registration": self._serving[namespace],
                         f"serving.{namespace}.run_id": serving.run_id,
                         f"serving.{namespace}.selected_by": serving.selected_by,
                         f"serving.{namespace}.classes": ",".join(serving.classes)})

    @hook_impl(hookwrapper=True)
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                           catalog: Any) -> Any:
        """Around kedro-mlflow's model logging: a setup whose served model is the one its
        latest registered MLflow version holds with the same code (same registration key,
        :func:`registration_key`) registers no new version."""
        kwargs = getattr(pipeline, "log_model_kwargs", None)
        env = run_env(run_params)
        self._name_run(env, run_params)
        named = (None if kwargs is None else
                 {**kwargs, "registered_model_name": registered_name(
                     kwargs.get("registered_model_name"), env)})
        if named is not None:
            if self._registered_unchanged(named):
                named.pop("registered_model_name")
            pipeline.log_model_kwargs = named
        try:
            yield
        finally:
            if kwargs is not None:
                pipeline.log_model_kwargs = kwargs
            self._stop_listening()

    def _name_run(self, env: str, run_params: dict[str, Any]) -> None:
        """The env and the pipelines in the parent run's name and tags: a lab's runs are
        told apart from the synthetic default's at a glance."""
        mlflow = self._mlflow()
        if mlflow is None:
            return
        pipelines = run_params.get("pipeline_names") or [run_params.get("pipeline_name")
                                                         or "__default__"]
        what = "+".join(p for p in pipelines if p) or "__default__"
        mlflow.set_tags({"mlflow.runName": f"{env}: {what}", "fer_da.env": env,
                         "fer_da.pipelines": what})
        # MLflow 3's UI shows an experiment of this kind as model training, not GenAI
        mlflow.tracking.MlflowClient().set_experiment_tag(
            mlflow.active_run().info.experiment_id, "mlflow.experimentKind",
            "custom_model_development")

    def _registered_unchanged(self, kwargs: dict[str, Any]) -> bool:
        name = kwargs.get("registered_model_name")
        mlflow = self._mlflow()
        if not name or mlflow is None:
            return False
        setup = str(name).rsplit(".", 1)[-1]
        key = self._serving.get(setup)
        if key is None:
            return False
        version = latest_registered(mlflow.tracking.MlflowClient(), name,
                                    f"serving.{setup}.registration")
        if version is None or version[1] != key:
            return False
        logger.info("MLflow: %s unchanged (registration key %s: same model and code), keeping "
                    "version %s; no new version registered", name, key, version[0])
        mlflow.set_tag(f"registered.{name}", f"version {version[0]} (unchanged)")
        return True

    def _log_models(self, namespace: str, inputs: dict, outputs: dict) -> None:
        mlflow = self._mlflow()
        if mlflow is None:
            return
        models, metrics = inputs[f"{namespace}.models"], outputs[f"{namespace}.metrics"]
        for run_id, trained in sorted(models.items()):
            live = self._mlflow_ids.get(run_id)
            with (mlflow.start_run(run_id=live, nested=True) if live else
                  mlflow.start_run(run_name=run_id, nested=True)) as run:
                self._mlflow_ids[run_id] = run.info.run_id
                plan = trained.plan
                mlflow.set_tags({"setup": plan["setup"], "run": plan["run"],
                                 "seed": plan["seed"], "fer_da.run_id": run_id,
                                 **{f"provenance.{k}": str(v)
                                    for k, v in trained.provenance.items()}})
                mlflow.log_params(_flatten({k: v for k, v in plan.items() if k != "run_id"}))
                if self._dataset is not None:  # the runs list's dataset column
                    mlflow.log_input(self._dataset, context="training")
                for h in ([] if run_id in self._live else trained.history):
                    mlflow.log_metrics({k: float(v) for k, v in h.items()
                                        if k != "epoch" and _number(v)
                                        and math.isfinite(float(v))},
                                       step=int(h["epoch"]))
                if any("collapsed" in h for h in trained.history):  # adversarial runs
                    collapsed = collapsed_epochs(trained.history)
                    mlflow.set_tag("adversary_collapsed",
                                   f"epochs {collapsed}" if collapsed else "no")
                mine = metrics[metrics["run_id"] == run_id]
                scores = [c for c in mine.columns if c in SCORES or c.startswith("recall_")]
                mlflow.log_metrics({f"{r['split']}_{m}_{r['eval_domain']}": float(r[m])
                                    for r in mine.to_dict("records") for m in scores
                                    if math.isfinite(float(r[m]))})
        logger.info("MLflow: logged %d %s runs", len(models), namespace)

    def _log_protocol(self, protocol: Any, split_summary: Any) -> None:
        """The protocol per domain (layout, detector, split mode, counts per split and
        class) on the parent run."""
        mlflow = self._mlflow()
        if mlflow is None:
            return
        mlflow.log_text(protocol.to_csv(index=False), "protocol.csv")
        mlflow.log_text(split_summary.to_csv(index=False), "split_summary.csv")
        self._dataset = face_set_input(mlflow, split_summary)
        mlflow.log_input(self._dataset, context="preprocessing")
        mlflow.set_tags({f"protocol.{r['domain']}": (
            f"{r['layout']}, {r['detector']}, split {r['split_mode']}, "
            f"{r['n_train']}/{r['n_val']}/{r['n_test']} train/val/test")
            for r in protocol.to_dict("records")})

    def _log_figures(self, figures: dict[str, Any], kind: str) -> None:
        mlflow = self._mlflow()
        if mlflow is None:
            return
        client = mlflow.tracking.MlflowClient()
        for run_id, mlflow_id in self._mlflow_ids.items():
            key = f"{kind}_{run_id.replace('/', '_')}.png"
            if key in figures:
                client.log_figure(mlflow_id, figures[key], f"{kind}.png")




def face_set_input(mlflow: Any, split_summary: Any) -> Any:
    """The face sets as an MLflow dataset (images per domain, split and class), named by
    their content so that a run's dataset column says which face sets it read."""
    from mlflow.data.pandas_dataset import from_pandas

    digest = hashlib.sha256(split_summary.to_csv(index=False).encode()).hexdigest()[:12]
    return from_pandas(split_summary, name=f"face_sets@{digest}")


def run_env(run_params: dict[str, Any]) -> str:
    """The env a run reads (``--env``, else the project's default run env)."""
    from fer_da.config_loader import DEFAULT_RUN_ENV

    return run_params.get("env") or DEFAULT_RUN_ENV


def registered_name(name: str | None, env: str) -> str | None:
    """``fer_da.<setup>`` as ``fer_da.<env>.<setup>``: a lab's model never becomes the next
    version of the synthetic default's."""
    if not name:
        return name
    prefix, _, setup = str(name).rpartition(".")
    return f"{prefix or 'fer_da'}.{env}.{setup}" if prefix.count(".") == 0 else str(name)


def latest_registered(client: Any, name: str, tag: str) -> tuple[str, str | None] | None:
    """(version, the ``tag`` of the run that logged it) of the newest version of registered
    model ``name``; None when there is none (or the registry cannot be read)."""
    try:
        versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            return None
        newest = max(versions, key=lambda v: int(v.version))
        return str(newest.version), client.get_run(newest.run_id).data.tags.get(tag)
    except Exception as exc:  # noqa: BLE001 - no registry: register as kedro-mlflow would
        logger.warning("MLflow registry of %s not readable (%s): registering as usual",
                       name, exc)
        return None


def parameters_read(pipeline: Any) -> set[str]:
    """The dotted parameters a pipeline's nodes read (``params:dann.setup`` -> ``dann.setup``)."""
    return {name[len("params:"):] for name in pipeline.inputs() if name.startswith("params:")}


class PreflightHook:
    """The run's configuration checked before its first node (``fer_da.preflight``): a
    mistake fails in the first second, naming its key, not after ingestion or training.
    Unknown keys are checked against what every registered pipeline reads; values, for
    the sections this pipeline reads."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                            catalog: Any) -> None:
        from kedro.framework.project import pipelines

        from fer_da.preflight import preflight
        from fer_da.validate import install_plain_config_errors

        install_plain_config_errors()  # a ConfigError ends the run as one message
        params = catalog.load("parameters")
        setups = preflight(params, {n.namespace or "" for n in pipeline.nodes},
                           reads=parameters_read(pipeline),
                           known={p for each in pipelines.values()
                                  for p in parameters_read(each)})
        logger.info("Configuration checked (setups: %s)", ", ".join(setups) or "none")


class JobProgressHook:
    """The whole job's progress (runs x epochs) and about how long it has left: a bar on a
    terminal, a log line at each run's end and at most once a minute between. The setups
    are the pipeline's ``<setup>.plans`` datasets, planned as their nodes will plan them
    (``training/plans.py``); runs restored whole from checkpoints count as done."""

    every_s = 60.0

    def __init__(self):
        self._progress: Any = None
        self._stops: list[Any] = []
        self._bar: Any = None
        self._logged = 0.0
        self._since: dict[str, float] = {}  # run id -> time of its last event

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                            catalog: Any) -> None:
        from fer_da.training.plans import plan_runs
        from fer_da.training.progress import JobProgress, planned_epochs

        self._close()
        if int(os.environ.get("RANK", "0")) != 0:  # the other ranks publish no event
            return
        setups = [o.removesuffix(".plans") for o in sorted(pipeline.all_outputs())
                  if o.endswith(".plans")]
        if not setups:
            return
        p = catalog.load("parameters")
        plans = {s: plan_runs(p[s]["setup"], p["domains"], p["training"],
                              p.get("preprocessing"), p.get("job")) for s in setups}
        self._progress = JobProgress(planned_epochs(plans))
        logger.info("%s (%s)", self._progress.line(), ", ".join(setups))
        self._stops = [subscribe(self._started, START), subscribe(self._epoch, EPOCH)]
        self._bar = tqdm(total=self._progress.total, desc="job", unit="epoch", disable=None)
        self._logged = time.monotonic()

    def _started(self, run_id: str, event: dict[str, Any]) -> None:
        self._since[run_id] = time.monotonic()
        self._progress.start(run_id, int(event["done"]), int(event["epochs"]))
        self._show(run_id)

    def _epoch(self, run_id: str, record: dict[str, Any]) -> None:
        """An epoch is priced at the wall time since its run's last event (its scoring,
        validators and checkpoint included), not at the record's training seconds."""
        now = time.monotonic()
        seconds = now - self._since.get(run_id, now - float(record["seconds"]))
        self._since[run_id] = now
        self._progress.epoch(run_id, int(record["epoch"]), seconds)
        self._show(run_id)

    def _show(self, run_id: str) -> None:
        job = self._progress
        self._bar.total = job.total  # a run the plan did not foresee
        self._bar.update(job.finished - self._bar.n)
        run_over = job.done.get(run_id, 0) >= job.planned.get(run_id, 0)
        if job.trained and (run_over or time.monotonic() - self._logged >= self.every_s):
            logger.info("%s", job.line())
            self._logged = time.monotonic()

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                           catalog: Any) -> None:
        self._close()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any],
                          pipeline: Any, catalog: Any) -> None:
        self._close()

    def _close(self) -> None:
        for stop in self._stops:
            stop()
        if self._bar is not None:
            self._bar.close()
        self._stops, self._bar, self._progress, self._since = [], None, None, {}


class DistributedOutputsHook:
    """Under ``torchrun`` (``fer_da.launch``), ranks other than 0 write nothing: every
    output of their run is kept in memory (rank 0 writes models, checkpoints, metrics and
    MLflow runs). Reads ``RANK`` from the environment: torch is not imported for this."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                            catalog: Any) -> None:
        rank = int(os.environ.get("RANK", "0"))
        if rank == 0:
            return
        from kedro.io import MemoryDataset

        for name in sorted(pipeline.all_outputs()):
            catalog[name] = MemoryDataset(copy_mode="assign")
        logger.info("rank %d: %d outputs kept in memory", rank, len(pipeline.all_outputs()))


def _path(catalog: Any, name: str, key: str = "filepath") -> str | None:
    """Where a catalog dataset writes (None when it cannot tell)."""
    try:
        described = catalog.get(name)._describe()
    except Exception:  # noqa: BLE001 - a dataset without a path, or not in the catalog
        return None
    return str(described.get(key) or described.get("path") or "") or None


def _saved_path(catalog: Any, name: str) -> str | None:
    """The file a (possibly versioned) dataset last saved to."""
    try:
        dataset = catalog.get(name)
        return str(dataset._get_save_path()) if hasattr(dataset, "_get_save_path") else (
            _path(catalog, name))
    except Exception:  # noqa: BLE001 - not a file dataset
        return _path(catalog, name)


class RunSummaryHook:
    """The last lines of every run that trained or evaluated: what ran, the headline
    numbers, where the metrics, models and report are (reporting/run_summary.py)."""

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                           catalog: Any) -> None:
        from fer_da.reporting.run_summary import summary_lines

        outputs = pipeline.all_outputs()
        setups = [o.removesuffix(".metrics") for o in sorted(outputs)
                  if o.endswith(".metrics")]
        metrics = {s: (_path(catalog, f"{s}.metrics"), catalog.load(f"{s}.metrics"))
                   for s in setups}
        models = {s: p for s in setups if (p := _path(catalog, f"{s}.models", "path"))}
        report = (_path(catalog, "report_markdown") if "report_markdown" in outputs
                  else None)
        html = report.removesuffix(".md") + ".html" if report else None
        synthetic = "synthetic" in str(run_env(run_params))
        names = (catalog.load("parameters").get("reporting") or {}).get("names") or {}
        for line in summary_lines(metrics, models, html, synthetic, names):
            logger.info("%s", line)
        for name in sorted(o for o in outputs if o.startswith("inference.")):
            where = _saved_path(catalog, name)
            if where:
                logger.info("Inference output %s: %s", name.removeprefix("inference."), where)
        tracked = _last_mlflow_run()
        if tracked and metrics:
            from fer_da.reporting.run_summary import mlflow_line

            logger.info("%s", mlflow_line(*tracked))


def _last_mlflow_run() -> tuple[str, str, str] | None:
    """(tracking URI, experiment id, run id) of the MLflow run this process just ended."""
    if "mlflow" not in sys.modules:  # not imported: the run was not tracked
        return None
    import mlflow

    try:
        run = mlflow.last_active_run()
    except Exception as exc:  # noqa: BLE001 - a store that cannot answer: no link, no failure
        logger.debug("no MLflow link: %s", exc)
        return None
    return (mlflow.get_tracking_uri(), run.info.experiment_id, run.info.run_id) if run else None
