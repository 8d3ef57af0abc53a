"""Reporting pipeline: every node that compares setups reads them by name, as the registry
lists them (methods/registry.py): a new setup reaches the report without an edit here."""

from kedro.pipeline import Pipeline, node, pipeline

from fer_da.methods.registry import SETUPS
from fer_da.pipelines import tags
from fer_da.pipelines.reporting.nodes import (
    a_distances,
    compare_methods,
    compare_with_source_only,
    confusion_figures,
    dann_loss_figure,
    make_tables,
    render_report,
    study_selection,
    summarise_collapse,
    summarise_mechanisms,
    tsne_figures,
)

LATENT = ("baseline", "finetune", "dann")  # the setups whose latent spaces are compared


def _by_setup(dataset: str, setups) -> dict[str, str]:
    return {s: f"{s}.{dataset}" for s in setups}


def create_pipeline(**kwargs) -> Pipeline:
    tabled = [s.name for s in SETUPS.values() if s.tables]  # Tables I-IV
    methods = ["baseline", "dann", *(s.name for s in SETUPS.values() if s.kind == "method")]
    siblings = [s.name for s in SETUPS.values() if s.kind == "method"]
    report = {"reporting": "params:reporting", "training": "params:training",
              "tables": "paper_tables", "adist": "a_distances", "tsne": "tsne_figure_names",
              "confusion": "confusion_figure_names", "protocol": "protocol",
              "split_summary": "split_summary", "provenance": "report_provenance",
              "paired": "paired_comparison", "methods": "method_comparison",
              "collapse": "collapse_summary", "mechanisms": "mechanism_summary",
              "validators": "validator_summary", "sweep": "sweep_choice",
              "dann_history": "dann.history", "hagan_history": "hagan.history"}
    return pipeline([
        node(summarise_collapse, inputs=["dann.history", "dann.metrics"],
             outputs="collapse_summary", name="summarise_collapse"),
        node(summarise_mechanisms, inputs=_by_setup("history", siblings),
             outputs="mechanism_summary", name="summarise_mechanisms"),
        node(make_tables, inputs={"collapse": "collapse_summary",
                                  "reporting": "params:reporting",
                                  **_by_setup("metrics", tabled)},
             outputs=["paper_tables", "report_provenance"], name="make_tables"),
        node(compare_with_source_only, inputs=["baseline.metrics", "dann.metrics",
                                               "params:reporting"],
             outputs="paired_comparison", name="compare_with_source_only"),
        node(compare_methods, inputs={"collapse": "collapse_summary",
                                      "reporting": "params:reporting",
                                      **_by_setup("metrics", methods)},
             outputs="method_comparison", name="compare_methods"),
        node(a_distances, inputs={"domains": "params:domains",
                                  **_by_setup("predictions", LATENT)},
             outputs="a_distances", name="a_distances"),
        node(tsne_figures, inputs={"labels": "params:labels", "reporting": "params:reporting",
                                   **_by_setup("predictions", LATENT)},
             outputs=["tsne_figures", "tsne_figure_names"], name="tsne_figures",
             tags=[tags.TSNE]),
        node(dann_loss_figure, inputs="dann.history", outputs="dann_loss_figure",
             name="dann_loss_figure"),
        node(study_selection, inputs=["dann.history", "dann.selection_trace"],
             outputs=["validator_picks", "validator_summary", "sweep_choice"],
             name="study_selection"),
        node(confusion_figures, inputs={"labels": "params:labels",
                                        "reporting": "params:reporting",
                                        **_by_setup("predictions", tabled)},
             outputs=["confusion_figures", "confusion_figure_names"],
             name="confusion_figures", tags=[tags.CONFUSION]),
        node(render_report, inputs=report, outputs=["report_markdown", "report_html"],
             name="render_report"),
    ])
