"""The table of training methods and experiment setups, importable without torch (Kedro
lists pipelines without importing the deep-learning stack).

Every place that dispatches on a method or a setup reads this table: run planning
(``training/plans.py``), the training loop, the objectives (``methods.build``), the
pipeline wiring, the grid, the reporting pipeline and its mechanisms table, the preflight.
A new method is one module under ``fer_da/methods/`` (its loss, heads and objective) and
one ``MethodSpec`` below (docs/contributing.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CONTROL = "erm_mixed"  # source-only loss on exactly the aggregated batches of adaptation
# AdaBN: the baseline's training, evaluated with each target's own batch-norm statistics;
# "<method>+adabn" adds those statistics to a method (and plans erm_mixed+adabn beside it)
ADABN = "adabn"


@dataclass(frozen=True)
class MethodSpec:
    """What the rest of the project needs to know of a method.

    ``setup``: the setup whose runs it trains (``dann`` for the adaptation methods and the
    control; its own name for a sibling paper's method). ``module``: the module that builds
    its objective (``objective(...)``, optionally ``model_config(...)``). ``adversarial``:
    a domain classifier plays against the features (the collapse detector watches it).
    ``conditioning``: what the domain classifier reads (``features`` or CDAN's
    ``multilinear`` map). ``clamp_modes``: the clamp modes it exists in. ``run_prefix``: its
    runs' names (``None``: the method's name alone; ``""``: the clamp alone, DANN's).
    ``needs``: inputs beyond the faces (``subjects``, ``autoencoder``, ``characters``).
    ``options``: the keys of ``<setup>.setup.options`` it reads. ``diagnostic``: the history
    column that shows its mechanism acting (the report's mechanisms table). ``trainer``:
    ``loop`` (training/loop.py) or ``hagan`` (training/hagan.py).
    """

    name: str
    setup: str
    module: str
    summary: str
    adversarial: bool = False
    conditioning: str = "features"
    clamp_modes: tuple[str, ...] = ("fixed", "paper")
    run_prefix: str | None = None
    needs: frozenset[str] = frozenset()
    options: tuple[str, ...] = ()
    diagnostic: str | None = None
    meaning: str = ""  # what the diagnostic measures, for the report
    balanced_classes: bool = False
    trainer: str = "loop"


@dataclass(frozen=True)
class SetupSpec:
    """An experiment setup: ``kind`` says how ``training/plans.py`` makes its runs;
    ``init_from`` the setup whose models it starts from; ``after`` the setups its pipeline
    runs first; ``tables``: the paper's tables it
    fills (reporting)."""

    name: str
    kind: str  # supervised | joint | finetune | adaptation | method
    summary: str
    init_from: str | None = None
    after: tuple[str, ...] = ()  # setups whose models its pipeline runs first
    tables: tuple[str, ...] = ()
    keys: tuple[str, ...] = ("kind", "name", "training")


_M = "fer_da.methods"
METHODS: Mapping[str, MethodSpec] = {m.name: m for m in (
    MethodSpec("erm", "baseline", f"{_M}.erm", "source-only: L_CLF"),
    MethodSpec(CONTROL, "dann", f"{_M}.erm", "L_CLF alone on the adaptation runs' batches"),
    MethodSpec("dann", "dann", f"{_M}.dann", "DANN (the paper): gradient reversal, "
               "scheduled lambda and clamp", adversarial=True, run_prefix="",
               diagnostic="dmn_acc"),
    MethodSpec("cdan_e", "dann", f"{_M}.cdan", "CDAN+E: the multilinear map, entropy "
               "weights", adversarial=True, conditioning="multilinear", run_prefix="cdan_e_",
               diagnostic="dmn_acc"),
    MethodSpec("confusion", "dann", f"{_M}.confusion", "domain confusion: features towards "
               "the uniform prediction", adversarial=True, clamp_modes=("fixed",),
               run_prefix="confusion_", diagnostic="dmn_acc"),
    MethodSpec("mcc", "dann", f"{_M}.mcc", "minimum class confusion on the unlabelled",
               diagnostic="adapt_loss"),
    MethodSpec("entropy", "dann", f"{_M}.entropy", "entropy minimisation on the unlabelled",
               diagnostic="adapt_loss"),
    MethodSpec("im", "dann", f"{_M}.entropy", "information maximisation on the unlabelled",
               diagnostic="adapt_loss"),
    MethodSpec("bnm", "dann", f"{_M}.bnm", "batch nuclear-norm maximisation on the "
               "unlabelled", diagnostic="adapt_loss"),
    MethodSpec("jm", "jm", f"{_M}.identity", "paper 003, eq. 4: identity learnt jointly",
               needs=frozenset({"subjects"}), options=("alpha",), diagnostic="id_acc",
               meaning="identity accuracy of the identity head (JM learns identity: high)"),
    MethodSpec("atf", "atf", f"{_M}.identity", "paper 003, eq. 5: identity reversed",
               needs=frozenset({"subjects"}), options=("alpha",), diagnostic="id_acc",
               meaning="identity accuracy behind the reversal (ATF removes identity: low)"),
    MethodSpec("ed2l", "ed2l", f"{_M}.ed2l", "paper 001: distilling and dispelling",
               options=("margin", "scale", "lambda_t", "lambda_p", "branch"),
               diagnostic="dispel_acc",
               meaning="expression accuracy of the dispeller on f_p (aim: chance, 1/K)"),
    MethodSpec("sna", "sna", f"{_M}.sna", "paper 002: semantic-neighbour masking",
               needs=frozenset({"autoencoder"}), balanced_classes=True,
               options=("gamma", "noise", "latent", "ae_epochs", "generator"),
               diagnostic="masked",
               meaning="share of each batch masked by the neighbour divergence"),
    MethodSpec("hagan", "hagan", "fer_da.training.hagan", "paper 004: human to animated "
               "translation", needs=frozenset({"characters"}), trainer="hagan",
               options=("l1_weight", "characters", "gan_lr", "beta1", "human_dropout"),
               diagnostic="g_diversity_ratio",
               meaning="spread of G's characters across faces / the real characters' "
                       "(≈0: one character for every face)"),
)}

_CORE = (
    SetupSpec("baseline", "supervised", "train on the source domain(s)", tables=("IV",)),
    SetupSpec("joint", "joint", "growing unions of domains (Table I)", tables=("I",),
              after=("baseline",),  # Table I's first column is the baseline
              keys=("kind", "name", "training", "unions", "reuse_baseline")),
    SetupSpec("finetune", "finetune", "the baseline fine-tuned on each target (Table II)",
              init_from="baseline", after=("baseline",), tables=("II",),
              keys=("kind", "name", "training", "init_from")),
    SetupSpec("dann", "adaptation", "unsupervised adaptation methods and their control",
              tables=("III", "IV"),
              keys=("kind", "name", "training", "clamps", "clamp_modes", "methods")),
)
# the setups above, then one per sibling method (a method that is a setup of its own)
SETUPS: Mapping[str, SetupSpec] = {s.name: s for s in (
    *_CORE, *(SetupSpec(m.name, "method", m.summary, keys=("kind", "name", "training",
                                                          "options"))
              for m in METHODS.values()
              if m.setup == m.name and m.name not in {c.name for c in _CORE}))}


def method(name: str) -> MethodSpec:
    """The spec of ``name``; a ``ValueError`` listing the known methods otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name]


def adaptation_methods() -> tuple[str, ...]:
    """The methods a ``dann`` setup may list (the control included)."""
    return tuple(m.name for m in METHODS.values() if m.setup == "dann")


def adversarial_methods() -> frozenset[str]:
    return frozenset(m.name for m in METHODS.values() if m.adversarial)


def sibling_methods() -> tuple[str, ...]:
    """The sibling papers' methods: each is a setup of its own, trained on the source."""
    return tuple(s.name for s in SETUPS.values() if s.kind == "method")


def needing(need: str) -> tuple[str, ...]:
    """The methods that need ``need`` (``subjects``, ``autoencoder``, ``characters``)."""
    return tuple(m.name for m in METHODS.values() if need in m.needs)


def setup_needs(setup: str) -> frozenset[str]:
    """What a setup's runs need beyond the faces (its method's ``needs``)."""
    spec = SETUPS[setup]
    return METHODS[setup].needs if spec.kind == "method" else frozenset()
