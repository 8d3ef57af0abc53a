"""Reporting pipeline."""

from kedro.pipeline import Pipeline, node, pipeline

from fer_da.pipelines import tags
from fer_da.pipelines.reporting.nodes import (
    a_distances,
    compare_methods,
    compare_with_source_only,
    confusion_figures,
    dann_loss_figure,
    make_tables,
    render_report,
    summarise_collapse,
    summarise_mechanisms,
    tsne_figures,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(summarise_collapse, inputs="dann.history", outputs="collapse_summary",
             name="summarise_collapse"),
        node(summarise_mechanisms, inputs=["jm.history", "atf.history", "ed2l.history",
                                           "sna.history", "hagan.history"],
             outputs="mechanism_summary", name="summarise_mechanisms"),
        node(make_tables, inputs=["baseline.metrics", "joint.metrics", "finetune.metrics",
                                  "dann.metrics", "collapse_summary", "params:reporting"],
             outputs=["paper_tables", "report_provenance"], name="make_tables"),
        node(compare_with_source_only, inputs=["baseline.metrics", "dann.metrics",
                                               "params:reporting"],
             outputs="paired_comparison", name="compare_with_source_only"),
        node(compare_methods, inputs=["baseline.metrics", "dann.metrics", "jm.metrics",
                                      "atf.metrics", "ed2l.metrics", "sna.metrics",
                                      "hagan.metrics", "collapse_summary",
                                      "params:reporting"],
             outputs="method_comparison", name="compare_methods"),
        node(a_distances, inputs=["baseline.predictions", "finetune.predictions",
                                  "dann.predictions", "params:domains"],
             outputs="a_distances", name="a_distances"),
        node(tsne_figures, inputs=["baseline.predictions", "finetune.predictions",
                                   "dann.predictions", "params:labels", "params:reporting"],
             outputs=["tsne_figures", "tsne_figure_names"], name="tsne_figures", tags=[tags.TSNE]),
        node(dann_loss_figure, inputs="dann.history", outputs="dann_loss_figure",
             name="dann_loss_figure"),
        node(confusion_figures, inputs=["baseline.predictions", "joint.predictions",
                                        "finetune.predictions", "dann.predictions",
                                        "params:labels"],
             outputs=["confusion_figures", "confusion_figure_names"],
             name="confusion_figures", tags=[tags.CONFUSION]),
        node(render_report, inputs=["paper_tables", "a_distances", "tsne_figure_names",
                                    "confusion_figure_names", "params:reporting",
                                    "params:training", "protocol", "split_summary",
                                    "report_provenance", "paired_comparison",
                                    "method_comparison", "collapse_summary",
                                    "mechanism_summary"],
             outputs=["report_markdown", "report_html"], name="render_report"),
    ])
