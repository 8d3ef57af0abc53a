"""The names of the training methods, importable without torch (Kedro lists pipelines
without importing the deep-learning stack)."""

METHODS = ("dann", "cdan_e", "mcc", "entropy", "im")  # the dann setup's adaptation methods
ADVERSARIAL = frozenset({"dann", "cdan_e"})  # those with a domain classifier behind the GRL
# AdaBN: trained on the source alone (the baseline's objective), evaluated with each
# target's own batch-norm statistics; "<method>+adabn" adds those statistics to a method
ADABN = "adabn"
SOURCE_ONLY = ("jm", "atf", "ed2l", "sna", "hagan")  # the sibling papers' methods: setups
