"""The node tags that tell the tracking hook (``fer_da.hooks``) what a node's outputs are:
the hook reads tags and dataset names, never node names, so renaming a node keeps its
tracking. A leaf: no node imports here."""

MODELS = "track.models"  # inputs <ns>.models, outputs <ns>.metrics: a nested run per model
PROTOCOL = "track.protocol"  # outputs protocol, split_summary: on the parent run
TSNE = "track.figures.tsne"  # its first output: t-SNE figures per run
CONFUSION = "track.figures.confusion"  # its first output: confusion figures per run
SERVING = "track.serving"  # its output: the setup's serving model (card and tags)
TRANSLATION = "track.figure.hagan_translation"  # its output: HA-GAN's translation figure
