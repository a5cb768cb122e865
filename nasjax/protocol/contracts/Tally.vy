# pragma version ~=0.4.3
"""
@title The committee's tally: how revealed votes decide a proposal
@notice nasjax.protocol.economics.tally in the same integer units: quorum,
        the supermajority, median or paired rule, the certified score, the
        over-claim test and which seats voted with the outcome. The paired
        rule is nasjax.protocol.paired.paired_test_units: an outlier screen
        on the median and MAD of the seats' gains (score - incumbent), Yuen's
        trimmed mean and winsorised spread, and acceptance when
        D**2 (h - 1) m 1e6 >= t2[h_eff - 1] h Q with D = S - margin h, so the
        contract and the JAX core reach the same decision on the same votes.
@dev   A contract of its own (Market.vy calls it by staticcall, keeping the
       money): both in one would exceed the 24 KiB code-size limit. The
       paired test's constants are fixed at deployment; the rule comes with
       each call from Market's parameters.
"""

PPM: constant(int256) = 1_000_000
MAX_SEATS: constant(uint256) = 64
T2_LEN: constant(uint256) = 65  # squared Student quantiles for dof 0 .. 64
GAIN_LIMIT: constant(int256) = 2 * 2**20  # |paired gain| clipped to 2.0


struct Paired:
    accept: bool
    estimate: int256  # trimmed-mean gain, floored (score units)
    kept: DynArray[bool, MAX_SEATS]  # per seat: survived the outlier screen


struct Ballot:  # one seat's vote as the tally reads it
    counted: bool  # revealed and not equivocated
    distinct: bool  # the seat is its validator's first
    accept: bool
    score: uint256
    incumbent: uint256


struct Rule:  # the decision rule (Market's parameters)
    quorum_seats: uint256
    min_improvement: uint256
    claim_tolerance: uint256
    median_rule: bool
    paired_rule: bool
    keep_overclaimed: bool


struct Decision:
    quorum: bool  # enough counted seats
    accepted: bool
    certified: int256  # the committee's score of the candidate
    estimate: int256  # paired rule: trimmed-mean gain (score units)
    over: bool  # claimed - certified > claim_tolerance
    agree: DynArray[bool, MAX_SEATS]  # per seat: voted with the outcome
    n_counted: uint256
    incumbent: uint256  # median of the counted incumbent scores (0: none)


trim_ppm: public(immutable(uint256))  # share of seats trimmed from each end
band_ppm: public(immutable(uint256))  # outlier band * 1.4826 in ppm (0: none)
test_units: public(immutable(uint256))  # the null gain, score units rounded up
t2_ppm: public(immutable(uint256[T2_LEN]))  # ceil(t_dof(confidence)**2 * 1e6)


@deploy
def __init__(trim: uint256, band: uint256, margin: uint256, t2: uint256[T2_LEN]):
    """
    @param trim Share trimmed from each end, in ppm (< 500000).
    @param band Screening band times 1.4826, in ppm (0: no screen).
    @param margin The test's null gain in score units.
    @param t2 Squared Student quantiles per degrees of freedom, in ppm.
    """
    assert trim < 500_000, "BadParams"
    trim_ppm = trim
    band_ppm = band
    test_units = margin
    t2_ppm = t2


@pure
@internal
def _sorted(xs: DynArray[uint256, MAX_SEATS]) -> DynArray[uint256, MAX_SEATS]:
    """Ascending copy (insertion sort; committees are small)."""
    a: DynArray[uint256, MAX_SEATS] = xs
    n: uint256 = len(a)
    for i: uint256 in range(1, MAX_SEATS):
        if i >= n:
            break
        x: uint256 = a[i]
        j: uint256 = i
        for _k: uint256 in range(MAX_SEATS):
            if j == 0 or a[j - 1] <= x:
                break
            a[j] = a[j - 1]
            j -= 1
        a[j] = x
    return a


@pure
@internal
def _median(xs: DynArray[uint256, MAX_SEATS], mid: bool) -> uint256:
    """Median: the lower one, or (mid) the mean of the two middle values,
    floored (0 when empty)."""
    a: DynArray[uint256, MAX_SEATS] = self._sorted(xs)
    n: uint256 = len(a)
    if n == 0:
        return 0
    if mid:
        return (a[(n - 1) // 2] + a[n // 2]) // 2
    return a[(n - 1) // 2]


@view
@external
def decide(
    votes: DynArray[Ballot, MAX_SEATS], best_at_vote: uint256, claimed: uint256,
    rule: Rule
) -> Decision:
    """
    @notice Decide one proposal from its committee's votes (one per seat).
    @param votes The seats' votes, in seat order.
    @param best_at_vote The task's certified best when voting opened.
    @param claimed The proposer's claimed score.
    @param rule The decision rule.
    """
    scores: DynArray[uint256, MAX_SEATS] = []
    incumbents: DynArray[uint256, MAX_SEATS] = []
    gains: DynArray[int256, MAX_SEATS] = []
    counted: DynArray[bool, MAX_SEATS] = []
    distinct: DynArray[bool, MAX_SEATS] = []
    n_accept: uint256 = 0
    for v: Ballot in votes:
        counted.append(v.counted)
        distinct.append(v.distinct)
        gains.append(
            min(max(convert(v.score, int256) - convert(v.incumbent, int256), -GAIN_LIMIT), GAIN_LIMIT)
        )
        if v.counted:
            scores.append(v.score)
            incumbents.append(v.incumbent)
            if v.accept:
                n_accept += 1
    n_counted: uint256 = len(scores)
    quorum: bool = n_counted >= rule.quorum_seats
    tolerance: int256 = convert(rule.claim_tolerance, int256)
    want: int256 = convert(claimed, int256)
    certified: int256 = 0
    accepted: bool = False
    test: Paired = empty(Paired)
    if rule.paired_rule:
        test = self._paired(gains, counted, distinct)
        certified = convert(best_at_vote, int256) + test.estimate
        confirmed: bool = certified + tolerance >= want
        accepted = quorum and test.accept and (confirmed or rule.keep_overclaimed)
    else:
        certified = convert(self._median(scores, False), int256)
        if rule.median_rule:
            bar: int256 = convert(best_at_vote + rule.min_improvement, int256)
            accepted = quorum and certified >= bar and certified + tolerance >= want
        else:
            accepted = quorum and n_accept >= rule.quorum_seats
    agree: DynArray[bool, MAX_SEATS] = []
    for i: uint256 in range(MAX_SEATS):
        if i >= len(votes):
            break
        if rule.paired_rule:
            agree.append(test.kept[i])
        else:
            agree.append(counted[i] and votes[i].accept == accepted)
    return Decision(
        quorum=quorum,
        accepted=accepted,
        certified=certified,
        estimate=test.estimate,
        over=want - certified > tolerance,
        agree=agree,
        n_counted=n_counted,
        incumbent=self._median(incumbents, True),
    )


@pure
@internal
def _sorted_int(xs: DynArray[int256, MAX_SEATS]) -> DynArray[int256, MAX_SEATS]:
    """Ascending copy of signed values."""
    a: DynArray[int256, MAX_SEATS] = xs
    n: uint256 = len(a)
    for i: uint256 in range(1, MAX_SEATS):
        if i >= n:
            break
        x: int256 = a[i]
        j: uint256 = i
        for _k: uint256 in range(MAX_SEATS):
            if j == 0 or a[j - 1] <= x:
                break
            a[j] = a[j - 1]
            j -= 1
        a[j] = x
    return a


@pure
@internal
def _pair_sum(a: DynArray[int256, MAX_SEATS]) -> int256:
    """Sum of the two middle values of a sorted list (0 when empty)."""
    n: uint256 = len(a)
    if n == 0:
        return 0
    return a[(n - 1) // 2] + a[n // 2]


@view
@internal
def _paired(
    gains: DynArray[int256, MAX_SEATS],
    counted: DynArray[bool, MAX_SEATS],
    distinct: DynArray[bool, MAX_SEATS],
) -> Paired:
    """
    @notice The committee's paired test, exactly as
            nasjax.protocol.paired.paired_test_units: outlier screen on
            median and MAD, Yuen's trimmed mean and winsorised spread, and
            D**2 (h - 1) m 1e6 >= t2[h_eff - 1] h Q with D = S - margin h.
    @param gains Per seat: score - incumbent, clipped to GAIN_LIMIT.
    @param counted Per seat: revealed and not equivocated.
    @param distinct Per seat: its validator's first seat.
    """
    ppm: int256 = PPM
    vals: DynArray[int256, MAX_SEATS] = []
    for i: uint256 in range(MAX_SEATS):
        if i >= len(gains):
            break
        if counted[i]:
            vals.append(gains[i])
    med2: int256 = self._pair_sum(self._sorted_int(vals))
    devs: DynArray[int256, MAX_SEATS] = []
    for g: int256 in vals:
        devs.append(abs(2 * g - med2))
    mad4: int256 = self._pair_sum(self._sorted_int(devs))
    band: int256 = convert(band_ppm, int256)

    kept: DynArray[bool, MAX_SEATS] = []
    left: DynArray[int256, MAX_SEATS] = []
    m: int256 = 0
    for i: uint256 in range(MAX_SEATS):
        if i >= len(gains):
            break
        keep: bool = counted[i] and (
            band == 0 or 2 * abs(2 * gains[i] - med2) * ppm <= band * mad4
        )
        kept.append(keep)
        if keep:
            left.append(gains[i])
            if distinct[i]:
                m += 1
    s: DynArray[int256, MAX_SEATS] = self._sorted_int(left)
    n: int256 = convert(len(s), int256)
    trim: int256 = convert(trim_ppm, int256)
    k: int256 = trim * n // ppm
    h: int256 = n - 2 * k
    total: int256 = 0
    w1: int256 = 0
    w2: int256 = 0
    if n > 0:
        lo: int256 = s[convert(k, uint256)]
        hi: int256 = s[convert(n - k - 1, uint256)]
        for r: uint256 in range(MAX_SEATS):
            if r >= len(s):
                break
            x: int256 = s[r]
            rank: int256 = convert(r, int256)
            if rank >= k and rank < n - k:
                total += x
            w: int256 = min(max(x, lo), hi)
            w1 += w
            w2 += w * w
    q: int256 = n * w2 - w1 * w1
    h_eff: int256 = m - 2 * (trim * m // ppm)
    accept: bool = False
    if m > 1 and h > 1 and h_eff > 1:
        d: int256 = total - convert(test_units, int256) * h
        idx: uint256 = min(convert(h_eff - 1, uint256), T2_LEN - 1)
        t2: int256 = convert(t2_ppm[idx], int256)
        accept = d >= 0 and d * d * (h - 1) * m * ppm >= t2 * h * q
    estimate: int256 = 0
    if n > 0:
        estimate = total // h
        if total % h != 0 and total < 0:
            estimate -= 1
    return Paired(accept=accept, estimate=estimate, kept=kept)
