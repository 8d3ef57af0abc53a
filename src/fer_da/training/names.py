"""The names of the training methods, importable without torch (Kedro lists pipelines
without importing the deep-learning stack)."""

# the dann setup's adaptation methods, and its control: erm_mixed = source-only loss on the
# same aggregated (source + target) batches
METHODS = ("dann", "cdan_e", "confusion", "mcc", "entropy", "im", "erm_mixed")
ADVERSARIAL = frozenset({"dann", "cdan_e", "confusion"})  # those with a domain classifier
CONTROL = "erm_mixed"
# AdaBN: trained on the source alone (the baseline's objective), evaluated with each
# target's own batch-norm statistics; "<method>+adabn" adds those statistics to a method
ADABN = "adabn"
SOURCE_ONLY = ("jm", "atf", "ed2l", "sna", "hagan")  # the sibling papers' methods: setups
# test-time augmentation at evaluation and inference (``evaluation.tta``)
TTA = ("none", "flip")
