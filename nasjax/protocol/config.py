"""``ProtocolConfig``: every knob of a protocol simulation (frozen, plain types).

The nested frozen dataclasses hold only ``int``, ``float``, ``str``, ``bool``,
tuples of those and ``None``, so the schema can be registered as a structured
config as it is. Token amounts are given in tokens (floats) and converted
exactly once, by rounding, to integer micro-token units
(:data:`nasjax.protocol.tokens.UNITS_PER_TOKEN`); fractions are converted to
integer parts per million.

``PRESETS`` mirrors the YAML files of ``conf/protocol/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from nasjax.data.config import DATA_SOURCES, DataConfig
from nasjax.graph.space import SearchSpaceConfig
from nasjax.train.config import TrainConfig

EVALUATORS: tuple[str, ...] = ("surrogate", "real")
CHAINS: tuple[str, ...] = ("sim", "evm", "rpc")
RULES: tuple[str, ...] = ("paired", "supermajority", "median")
LEDGER_MODES: tuple[str, ...] = ("full", "summary", "none")
REAL_DATA: tuple[str, ...] = tuple(s for s in DATA_SOURCES if s != "ucr")


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """Who takes part: stake share of each attacker type (honest = the rest).

    Attributes:
        lazy: Stake share of lazy validators (vote without evaluating).
        liar: Stake share of liars (over-claim their proposals' scores).
        sybil: Stake share of Sybil entities (one owner, many identities).
        ring: Stake share of the colluding ring (accept members' proposals).
        overfitter: Stake share of overfitters (tune to the public folds).
        random: Stake share of random proposers (untargeted random archs).
        sybil_split: Identities per Sybil entity.
        stake_sigma: Log-normal dispersion of individual endowments.
        lie_margin: How far above the acceptance bar a liar / ring / Sybil
            proposal claims to be.
        overfit_tries: Variants an overfitter evaluates on the public folds
            before claiming the best-looking one.
        equivocate_prob: Probability that a ring or Sybil validator signs two
            conflicting votes (hedging; slashable).
        offline_prob: Probability that any validator fails to reveal a vote.
    """

    lazy: float = 0.05
    liar: float = 0.05
    sybil: float = 0.05
    ring: float = 0.05
    overfitter: float = 0.05
    random: float = 0.05
    sybil_split: int = 8
    stake_sigma: float = 1.0
    lie_margin: float = 0.02
    overfit_tries: int = 16
    equivocate_prob: float = 0.05
    offline_prob: float = 0.01

    def shares(self) -> dict[str, float]:
        """Stake share per attacker type name."""
        return {n: float(getattr(self, n)) for n in ATTACKER_FIELDS}


ATTACKER_FIELDS: tuple[str, ...] = (
    "lazy",
    "liar",
    "sybil",
    "ring",
    "overfitter",
    "random",
)


@dataclasses.dataclass(frozen=True)
class ConsensusConfig:
    """Proposal slots, committees and the acceptance rule.

    Attributes:
        proposals_per_block: Proposal slots per block (P).
        committee_size: Seats per committee (C), drawn by stake-weighted
            sortition with replacement (a node may hold several seats).
        quorum: Fraction of committee seats that must reveal for a decision,
            and (``rule="supermajority"``) vote accept for an acceptance
            (BFT: 2/3).
        rule: ``"paired"`` (default): every seat scores the candidate and
            the incumbent on the same chain-drawn evaluation blocks and
            reveals its paired gain; accepted when the committee's robust
            lower confidence bound on the gain (outlier screen, then Yuen's
            trimmed paired t-test, see :class:`AcceptanceConfig`) clears the
            test margin. ``"supermajority"``: accepted when ``quorum`` of the
            seats vote accept (each seat: its own score clears the certified
            best + margin); ``"median"``: accepted when the certified (median)
            score clears the bar and confirms the claim (Yuma-style, more
            sensitive, safe only below half of a committee's stake). The two
            older rules compare against the certified best's stored score.
        min_improvement: A proposal must beat the certified best by this much.
        claim_tolerance: A rejected proposal whose claim exceeds the certified
            (median) score by more than this is an over-claim and is slashed.
        commit_reveal: Votes are committed before any is revealed; when off,
            lazy validators copy the other votes of the same committee.
        fresh_folds: Validators evaluate on fold seeds drawn from the chain;
            when off they reuse the proposer's public folds (ablation).
        n_tasks: Tasks (datasets) in the model registry, each with a best.
    """

    proposals_per_block: int = 2
    committee_size: int = 32
    quorum: float = 2 / 3
    rule: str = "paired"
    min_improvement: float = 0.001
    claim_tolerance: float = 0.012
    commit_reveal: bool = True
    fresh_folds: bool = True
    n_tasks: int = 1


@dataclasses.dataclass(frozen=True)
class AcceptanceConfig:
    """The paired acceptance test (``consensus.rule="paired"``).

    Each seat scores the candidate and the task's incumbent on the same
    ``blocks`` chain-drawn evaluation blocks (so whatever makes a block easy
    or hard hits both models alike and cancels in the difference) and
    reveals its mean paired gain and the incumbent's mean score. The
    committee screens out gains more than ``outlier_band`` robust standard
    deviations from the median, runs Yuen's trimmed paired t-test over the
    rest (:func:`nasjax.protocol.paired.paired_test_units`, exact integer
    arithmetic on the contract's score grid) and accepts when the
    one-sided lower confidence bound clears ``margin_fraction *
    min_improvement`` (and the claim is confirmed, unless
    ``keep_overclaimed``). The candidate's certified
    score is the incumbent's re-certified score plus the trimmed-mean gain.

    Attributes:
        confidence: One-sided confidence of the test (a candidate no better
            than the incumbent is accepted with about ``1 - confidence``).
        blocks: Chain-drawn evaluation blocks each seat scores both models on
            (the blocks partition the seat's chain-drawn folds).
        margin_fraction: The test's null gain as a fraction of
            ``consensus.min_improvement`` (0: "no better than the
            incumbent"; 1: "improves by less than the margin").
        trim: Share of the seats' gains trimmed from each end (robustness to
            a colluding minority; 0 is Student's paired t-test).
        keep_overclaimed: Accept a candidate that passes the test even when
            its claim exceeds the certified score by more than
            ``consensus.claim_tolerance`` (the network keeps the true
            improvement); the over-claim is still slashed and earns no
            reward. Off: over-claims are rejected, as under the older rules.
        outlier_band: A counted seat whose gain lies more than this many
            robust standard deviations (``1.4826 * MAD``) from the median
            gain is screened out of the test and voted against the outcome
            (deviation penalty, no fee share); the others voted with it,
            whichever side of zero their own gain fell.
        recertify: Re-certify the incumbent's score with the running mean of
            every committee's (median) incumbent score, instead of keeping
            the score it was accepted with (the maximum of noisy estimates).
    """

    confidence: float = 0.998
    blocks: int = 4
    margin_fraction: float = 0.0
    trim: float = 0.2
    keep_overclaimed: bool = True
    outlier_band: float = 6.0
    recertify: bool = True


@dataclasses.dataclass(frozen=True)
class EconomicsConfig:
    """Token amounts (in tokens) and fractions of the incentive scheme.

    Attributes:
        endowment: Mean initial endowment per node.
        liquid_fraction: Part of each endowment that starts liquid (the rest
            is bonded stake).
        registration_fee: Burned once per identity at genesis.
        proposal_deposit: Escrowed per proposal, refunded unless over-claimed.
        proposal_fee: Paid per proposal to the validators that voted with the
            outcome (refunded if the committee misses quorum).
        validator_emission: Tokens minted per block for the validators: shared
            equally by every seat that voted with the outcome of a proposal
            finalised in the block (nothing is minted when none did).
        max_reward_per_block: Most improvement-reward tokens minted per block.
        emission_cap: Most tokens ever minted, rewards and validator emission
            together (total payout cap).
        reward_per_point: Tokens minted per +1.0 of certified improvement.
        proposer_share: Share of a reward paid to the proposer (the rest goes
            to validators that voted accept).
        overclaim_slash: Share of the deposit slashed for an over-claim.
        whistleblower_share: Share of a slashed deposit paid to the validators
            that voted reject (the rest is burned).
        equivocation_slash: Share of bond slashed per equivocation, before the
            correlation penalty.
        correlation_multiplier: Equivocation slash grows by
            ``multiplier * (equivocating stake / total stake)`` (capped at 1).
        deviation_penalty: Share of bond burned per vote against the outcome.
        min_bond: Bond needed to validate or propose.
        liquid_reserve: Liquid balance a node keeps when auto-restaking.
        auto_restake: Bond any liquid balance above ``liquid_reserve`` each
            block.
        unbonding_delay: Blocks between an unbond request and the release
            (still slashable meanwhile).
        unbond_prob: Per-block probability that a node unbonds.
        unbond_fraction: Share of its bond a node unbonds when it does.
        eval_cost: Off-chain compute cost (tokens) of one validator
            evaluation; counted in ROI, not a chain transfer.
        train_cost: Off-chain compute cost of training one candidate.
    """

    endowment: float = 1000.0
    liquid_fraction: float = 0.05
    registration_fee: float = 1.0
    proposal_deposit: float = 10.0
    proposal_fee: float = 1.0
    validator_emission: float = 5.0
    max_reward_per_block: float = 200.0
    emission_cap: float = 1_000_000.0
    reward_per_point: float = 20_000.0
    proposer_share: float = 0.7
    overclaim_slash: float = 0.5
    whistleblower_share: float = 0.25
    equivocation_slash: float = 0.05
    correlation_multiplier: float = 3.0
    deviation_penalty: float = 0.001
    min_bond: float = 1.0
    liquid_reserve: float = 30.0
    auto_restake: bool = True
    unbonding_delay: int = 16
    unbond_prob: float = 0.002
    unbond_fraction: float = 0.25
    eval_cost: float = 0.05
    train_cost: float = 0.2


@dataclasses.dataclass(frozen=True)
class SurrogateEvaluatorConfig:
    """The declared surrogate evaluator (score = quality + fold + train noise).

    Scores are accuracies. A candidate has a true quality; any evaluation adds
    a fold-set error (shared by everyone using the same folds) and a training
    noise (per run).

    Attributes:
        initial_score: Certified and true score of the genesis model.
        ceiling: Best reachable quality (e.g. a Bayes-optimal accuracy).
        fold_noise: Std of a fold set's error for a candidate.
        train_noise: Std of one training run's noise.
        gain_mean: Mean quality change of a morph, in units of the headroom
            ``ceiling - best``.
        gain_std: Std of that change, in units of the headroom.
        tune_std: Std of the true quality between an overfitter's variants.
        random_mean: Mean quality of a random architecture.
        random_std: Std of the quality of a random architecture.
        block_share: Share of the fold error's variance that is the
            evaluation block's own (shared by every model scored on that
            block: paired scoring cancels it); the rest is each model's own.
        train_share: Correlation of the training noise of the candidate and
            the incumbent when one validator trains both with the same key
            and minibatch order (common random numbers).
    """

    initial_score: float = 0.52
    ceiling: float = 0.58
    fold_noise: float = 0.002
    train_noise: float = 0.001
    gain_mean: float = -0.05
    gain_std: float = 0.15
    tune_std: float = 0.0005
    random_mean: float = 0.505
    random_std: float = 0.01
    block_share: float = 0.9
    train_share: float = 0.8


@dataclasses.dataclass(frozen=True)
class RealConfig:
    """The real nasjax evaluator (train + walk-forward CV), for small runs.

    The data, the search space and the training are configured with the
    same schemas as a search (``data``, ``search_space`` and ``train`` of
    :class:`nasjax.app.config.AppConfig`), with small defaults.

    Attributes:
        data: Candles and windows (:class:`nasjax.data.DataConfig`; any
            candle source, not ``ucr``); ``n_folds`` walk-forward folds serve
            the public and the chain-drawn evaluations alike.
        search_space: The architecture bucket
            (:class:`nasjax.graph.SearchSpaceConfig`).
        train: Training of one evaluation (:class:`nasjax.train.TrainConfig`;
            by default one validation pass at the end).
        chain_val_fraction: Share of each validation block a validator keeps,
            drawn from the chain's randomness per block.
        morph_length: Morphs per proposed child.
        morphs: Morphs proposers draw from (names of ``nasjax.morph.MORPHS``).
    """

    data: DataConfig = dataclasses.field(
        default_factory=lambda: DataConfig(
            source="synthetic",
            window=8,
            n_folds=2,
            synthetic_symbols=3,
            synthetic_steps=1200,
            synthetic_signal=0.2,
        )
    )
    search_space: SearchSpaceConfig = dataclasses.field(
        default_factory=lambda: SearchSpaceConfig(
            max_nodes=4, max_width=16, ops=("dense_gelu", "conv")
        )
    )
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(
            n_steps=20,
            eval_every=20,
            warmup_steps=5,
            batch_size=32,
            learning_rate=0.003,
            max_eval_samples=512,
            eval_batch_size=128,
        )
    )
    chain_val_fraction: float = 0.7
    morph_length: int = 1
    morphs: tuple[str, ...] = ("widen", "deepen", "swap_op")


@dataclasses.dataclass(frozen=True)
class LedgerConfig:
    """What the hash-chained, signed ledger records.

    Attributes:
        mode: ``"full"`` (every transaction of every block), ``"summary"``
            (one signed checkpoint per ``every`` blocks: metric totals, supply
            and, last, the final state's digest) or ``"none"``.
        every: Blocks per checkpoint in summary mode.
        fsync: ``fsync`` after every appended block.
        filename: Ledger file name inside the output folder.
    """

    mode: str = "full"
    every: int = 100
    fsync: bool = True
    filename: str = "ledger.jsonl"


@dataclasses.dataclass(frozen=True)
class ProtocolConfig:
    """A whole protocol simulation.

    Attributes:
        seed: Seed of the root PRNG key and of the node keys.
        n_nodes: Identities (N).
        n_blocks: Blocks to simulate.
        evaluator: ``"surrogate"`` (vectorised ``lax.scan``) or ``"real"``
            (nasjax training on the host, block by block).
        chain: Where blocks settle: ``"sim"`` (the JAX core and the signed
            ledger) or ``"evm"`` (the Vyper market on an in-process EVM,
            compared with the JAX core after every block; needs the
            ``chain`` extra; surrogate evaluator only) or ``"rpc"`` (the
            same contract on a local ``anvil`` node over JSON-RPC, one OS
            process per node: :mod:`nasjax.protocol.rpc_run`; ``evaluator``
            real trains for real, surrogate uses a hash stand-in).
        agents: Agent mix and behaviour.
        consensus: Committees and the acceptance rule.
        acceptance: The paired acceptance test (``consensus.rule="paired"``).
        economics: Rewards, slashing, bonding.
        surrogate: The surrogate evaluator.
        real: The real evaluator.
        ledger: Ledger recording.
        plots: Write the PNG plots.
    """

    seed: int = 0
    n_nodes: int = 100
    n_blocks: int = 500
    evaluator: str = "surrogate"
    chain: str = "sim"
    agents: AgentConfig = dataclasses.field(default_factory=AgentConfig)
    consensus: ConsensusConfig = dataclasses.field(default_factory=ConsensusConfig)
    acceptance: AcceptanceConfig = dataclasses.field(default_factory=AcceptanceConfig)
    economics: EconomicsConfig = dataclasses.field(default_factory=EconomicsConfig)
    surrogate: SurrogateEvaluatorConfig = dataclasses.field(
        default_factory=SurrogateEvaluatorConfig
    )
    real: RealConfig = dataclasses.field(default_factory=RealConfig)
    ledger: LedgerConfig = dataclasses.field(default_factory=LedgerConfig)
    plots: bool = True

    def __post_init__(self) -> None:
        _tuplify(self)
        problems = validate(self)
        if problems:
            raise ValueError("bad ProtocolConfig: " + "; ".join(problems))


def _tuplify(cfg: Any) -> None:
    """Lists (e.g. from a YAML loader) become tuples, so configs stay hashable."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, list):
            object.__setattr__(cfg, f.name, tuple(value))
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            _tuplify(value)


def validate(cfg: ProtocolConfig) -> list[str]:
    """Problems of a configuration (empty when it is sound)."""
    p: list[str] = []
    a, c, e, s, r = cfg.agents, cfg.consensus, cfg.economics, cfg.surrogate, cfg.real
    if cfg.evaluator not in EVALUATORS:
        p.append(f"evaluator must be one of {EVALUATORS}")
    if cfg.chain not in CHAINS:
        p.append(f"chain must be one of {CHAINS}")
    if cfg.chain == "evm" and (
        cfg.evaluator != "surrogate"
        or cfg.n_nodes > 1024
        or cfg.consensus.proposals_per_block > 16
        or cfg.consensus.committee_size > 64
        or cfg.consensus.n_tasks > 16
        or cfg.economics.unbonding_delay > 64
    ):
        p.append(
            "chain=evm needs evaluator=surrogate, n_nodes <= 1024, "
            "proposals_per_block <= 16, committee_size <= 64, n_tasks <= 16 "
            "and unbonding_delay <= 64 (the contract's bounds)"
        )
    if cfg.chain == "rpc" and (
        cfg.n_nodes > 64
        or cfg.consensus.n_tasks != 1
        or cfg.consensus.proposals_per_block >= cfg.n_nodes
        or cfg.consensus.proposals_per_block > 16
        or cfg.consensus.committee_size > 64
        or cfg.economics.unbonding_delay > 64
    ):
        p.append(
            "chain=rpc (one OS process per node on anvil) needs n_nodes <= 64, "
            "consensus.n_tasks=1, proposals_per_block < n_nodes and <= 16, "
            "committee_size <= 64 and unbonding_delay <= 64"
        )
    if cfg.consensus.rule not in RULES:
        p.append(f"consensus.rule must be one of {RULES}")
    elif (
        cfg.chain == "evm"
        and cfg.consensus.rule == "paired"
        and not cfg.consensus.commit_reveal
    ):
        p.append(
            "chain=evm with consensus.rule=paired needs consensus.commit_reveal "
            "(a vote reveals the scores its gain is made of)"
        )
    if cfg.ledger.mode not in LEDGER_MODES:
        p.append(f"ledger.mode must be one of {LEDGER_MODES}")
    if cfg.ledger.every < 1:
        p.append("ledger.every must be >= 1")
    if r.data.source not in REAL_DATA:
        p.append(f"real.data.source must be one of {REAL_DATA}")
    if cfg.n_nodes < 2 or cfg.n_blocks < 1:
        p.append("n_nodes must be >= 2 and n_blocks >= 1")
    shares = a.shares()
    if any(v < 0 for v in shares.values()) or sum(shares.values()) >= 1:
        p.append("attacker shares must be >= 0 and sum to < 1 (honest stake > 0)")
    if a.sybil_split < 1 or a.overfit_tries < 1:
        p.append("agents.sybil_split and agents.overfit_tries must be >= 1")
    for name in ("equivocate_prob", "offline_prob"):
        if not 0 <= getattr(a, name) <= 1:
            p.append(f"agents.{name} must be in [0, 1]")
    if c.proposals_per_block < 1 or c.committee_size < 1 or c.n_tasks < 1:
        p.append("proposals_per_block, committee_size and n_tasks must be >= 1")
    if not 0 < c.quorum <= 1:
        p.append("consensus.quorum must be in (0, 1]")
    q = cfg.acceptance
    if not 0.5 <= q.confidence < 1:
        p.append("acceptance.confidence must be in [0.5, 1)")
    if q.blocks < 1:
        p.append("acceptance.blocks must be >= 1")
    if not 0 <= q.trim < 0.5:
        p.append("acceptance.trim must be in [0, 0.5)")
    if q.outlier_band <= 0:
        p.append("acceptance.outlier_band must be > 0")
    if q.margin_fraction < 0:
        p.append("acceptance.margin_fraction must be >= 0")
    for name in ("block_share", "train_share"):
        if not 0 <= getattr(s, name) <= 1:
            p.append(f"surrogate.{name} must be in [0, 1]")
    fractions = (
        "liquid_fraction",
        "proposer_share",
        "overclaim_slash",
        "whistleblower_share",
        "equivocation_slash",
        "deviation_penalty",
        "unbond_prob",
        "unbond_fraction",
    )
    for name in fractions:
        if not 0 <= getattr(e, name) <= 1:
            p.append(f"economics.{name} must be in [0, 1]")
    amounts = (
        "endowment",
        "registration_fee",
        "proposal_deposit",
        "proposal_fee",
        "validator_emission",
        "max_reward_per_block",
        "emission_cap",
        "reward_per_point",
        "min_bond",
        "liquid_reserve",
        "eval_cost",
        "train_cost",
        "correlation_multiplier",
    )
    for name in amounts:
        if getattr(e, name) < 0:
            p.append(f"economics.{name} must be >= 0")
    if e.unbonding_delay < 1:
        p.append("economics.unbonding_delay must be >= 1")
    # int64 micro-token arithmetic: keep the supply far from overflow.
    if cfg.n_nodes * e.endowment + e.emission_cap > 1e12:
        p.append("total supply above 1e12 tokens does not fit int64 micro-tokens")
    if s.fold_noise < 0 or s.train_noise < 0 or s.gain_std < 0 or s.tune_std < 0:
        p.append("surrogate noise levels must be >= 0")
    if not 0 < r.chain_val_fraction <= 1:
        p.append("real.chain_val_fraction must be in (0, 1]")
    if r.data.n_folds < 1 or r.morph_length < 1:
        p.append("real.data.n_folds and real.morph_length must be >= 1")
    if not r.morphs:
        p.append("real.morphs must name at least one morph")
    return p


def to_dict(cfg: Any) -> dict[str, Any]:
    """A nested plain ``dict`` of a config (tuples become lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out[f.name] = to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        else:
            out[f.name] = value
    return out


def from_dict(data: Mapping[str, Any], base: Any | None = None) -> Any:
    """Build a config from a nested mapping, starting from ``base``.

    Args:
        data: Nested mapping of field values (unknown keys are errors).
        base: The config to update (default ``ProtocolConfig()``).

    Raises:
        KeyError: On an unknown key (its dotted path is named).
    """
    base = ProtocolConfig() if base is None else base
    return _merge(base, data, "")


def _merge(base: Any, data: Mapping[str, Any], prefix: str) -> Any:
    names = {f.name for f in dataclasses.fields(base)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise KeyError(f"unknown protocol option {prefix + key!r}")
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            changes[key] = _merge(current, value, f"{prefix}{key}.")
        else:
            _check_type(prefix + key, current, value)
            changes[key] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(base, **changes)


def _check_type(name: str, current: Any, value: Any) -> None:
    """Refuse a value whose kind differs from the field's current value
    (``n_nodes=abc``), naming the option."""
    if current is None or value is None:
        return
    if isinstance(current, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(current, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(current, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        kind = "a number"
    elif isinstance(current, str):
        ok, kind = isinstance(value, str), "text"
    elif isinstance(current, tuple):
        ok, kind = isinstance(value, list | tuple), "a list"
    else:
        return
    if not ok:
        raise TypeError(
            f"protocol option {name!r} must be {kind}, got {value!r} "
            f"({type(value).__name__})"
        )


def with_overrides(cfg: Any, overrides: Mapping[str, Any]) -> Any:
    """Apply dotted-key overrides, e.g. ``{"consensus.committee_size": 8}``."""
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        node = nested
        *path, leaf = dotted.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return from_dict(nested, cfg)


PRESETS: dict[str, ProtocolConfig] = {
    "default": ProtocolConfig(),
    "attack": ProtocolConfig(
        agents=AgentConfig(
            lazy=0.0, liar=0.0, sybil=0.0, ring=0.45, overfitter=0.0, random=0.0
        ),
        consensus=ConsensusConfig(committee_size=4),
    ),
    "scale": ProtocolConfig(
        n_nodes=1000,
        n_blocks=10_000,
        consensus=ConsensusConfig(proposals_per_block=4, committee_size=16),
        ledger=LedgerConfig(mode="summary", every=500),
    ),
    "real": ProtocolConfig(
        n_nodes=10,
        n_blocks=20,
        evaluator="real",
        agents=AgentConfig(
            lazy=0.1,
            liar=0.1,
            sybil=0.0,
            ring=0.0,
            overfitter=0.1,
            random=0.0,
            overfit_tries=3,
        ),
        consensus=ConsensusConfig(
            proposals_per_block=1,
            committee_size=4,
            min_improvement=0.0,
            claim_tolerance=0.03,
        ),
        real=RealConfig(data=dataclasses.replace(RealConfig().data, source="sample")),
    ),
}
"""Named presets; ``conf/protocol/<name>.yaml`` mirrors each one."""


def __getattr__(name: str) -> Any:
    """``SurrogateConfig``: deprecated name of :class:`SurrogateEvaluatorConfig`
    (it clashed with the search's GP ``SurrogateConfig``); one release."""
    if name == "SurrogateConfig":
        import warnings

        warnings.warn(
            "nasjax.protocol SurrogateConfig is renamed SurrogateEvaluatorConfig",
            DeprecationWarning,
            stacklevel=2,
        )
        return SurrogateEvaluatorConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
