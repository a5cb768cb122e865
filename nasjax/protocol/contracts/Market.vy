# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title nasjax proposal market
@notice Staking, proposal deposits, commit-reveal voting, a sortition seed,
        rewards and slashing: the rules of nasjax.protocol.economics as one
        EVM contract, in the same integer units.
@dev    Amounts are micro-tokens (1 unit = 1 wei held by this contract).
        Scores are integers in units of 2**-20 (SCORE_ONE = 1.0). Rates are
        parts per million with the simulator's flooring (mul_ppm).
        A chain block of the simulator is one contract "block": the producer
        (operator) calls begin_block, finalize_block and end_block; nodes
        send their own transactions in between. Every change of a node's
        holdings logs a Move(node, src, dst, amount) so the events alone
        replay every balance and the supply (nasjax.protocol.evm.replay).
        How a committee's votes decide a proposal is Tally.vy's (a contract
        of its own, deployed first): together they would exceed the 24 KiB
        code-size limit, which is also why this one is optimised for size.
"""

PPM: constant(uint256) = 1_000_000
SCORE_ONE: constant(uint256) = 2**20
MAX_SLOTS: constant(uint256) = 16
MAX_SEATS: constant(uint256) = 64
MAX_DELAY: constant(uint256) = 64
MAX_PAIRS: constant(uint256) = 1024  # MAX_SLOTS * MAX_SEATS

# Buckets of a Move event.
LIQUID: constant(uint8) = 0
BONDED: constant(uint8) = 1
UNBONDING: constant(uint8) = 2
ESCROW: constant(uint8) = 3
MINT: constant(uint8) = 4
BURN: constant(uint8) = 5
OUTSIDE: constant(uint8) = 6
POOL: constant(uint8) = 7  # a settlement's seat pool (empty after each)

# Outcomes.
ACCEPTED: constant(uint8) = 1
REJECTED: constant(uint8) = 2
EXPIRED: constant(uint8) = 3
ABANDONED: constant(uint8) = 4

# Proposal stages.
COMMITTED: constant(uint8) = 1
VOTING: constant(uint8) = 2
DONE: constant(uint8) = 3

VOTE_DOMAIN: constant(bytes32) = keccak256("nasjax-vote-v1")


struct Params:
    min_bond: uint256
    deposit: uint256
    fee: uint256
    validator_emission: uint256
    max_reward_per_block: uint256
    emission_cap: uint256
    reward_per_point: uint256  # units per +1.0 score
    proposer_share: uint256
    overclaim_slash: uint256
    whistleblower_share: uint256
    equivocation_slash: uint256
    correlation_ppm: uint256  # correlation multiplier in ppm
    deviation_penalty: uint256
    quorum_seats: uint256
    min_improvement: uint256  # score units, rounded up
    claim_tolerance: uint256  # score units, rounded down
    median_rule: bool
    delay: uint256
    n_slots: uint256
    committee_size: uint256
    n_tasks: uint256
    # The paired rule: the committee's test is the PairedTest contract.
    paired_rule: bool
    recertify: bool
    keep_overclaimed: bool


struct Proposal:
    proposer: uint256
    commitment: bytes32
    commit_block: uint256
    stage: uint8
    task: uint256
    claimed: uint256
    deposit: uint256
    fee: uint256
    best_at_vote: uint256
    revealed: bool
    incumbent_id: uint256  # the task's best model when voting opened


struct Vote:
    commitment: bytes32
    round: uint256
    committed: bool
    revealed: bool
    equivocated: bool
    accept: bool
    score: uint256
    incumbent: uint256  # the voter's score of the incumbent (paired rule)


struct Ballot:  # one seat's vote as the tally reads it
    counted: bool  # revealed and not equivocated
    distinct: bool  # the seat is its validator's first
    accept: bool
    score: uint256
    incumbent: uint256


struct Rule:  # the decision rule (from Params)
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


interface Tally:
    def decide(
        votes: DynArray[Ballot, MAX_SEATS], best_at_vote: uint256, claimed: uint256,
        rule: Rule
    ) -> Decision: view


event Move:
    node: indexed(uint256)
    src: uint8
    dst: uint8
    amount: uint256

event BlockBegun:
    block: indexed(uint256)
    beacon: bytes32

event BlockEnded:
    block: indexed(uint256)
    emitted: uint256
    burned: uint256

event ProposalCommitted:
    pid: indexed(uint256)
    proposer: indexed(uint256)
    commitment: bytes32

event ProposalRevealed:
    pid: indexed(uint256)
    task: uint256
    claimed: uint256
    best_at_vote: uint256

event CommitteeAssigned:
    pid: indexed(uint256)
    seats: DynArray[uint256, MAX_SEATS]

event VoteCommitted:
    pid: indexed(uint256)
    voter: indexed(uint256)
    commitment: bytes32

event VoteRevealed:
    pid: indexed(uint256)
    voter: indexed(uint256)
    accept: bool
    score: uint256
    incumbent: uint256

event Equivocation:
    pid: indexed(uint256)
    offender: indexed(uint256)
    reporter: address

event Settled:
    pid: indexed(uint256)
    outcome: uint8
    certified: uint256
    reward: uint256
    slash: uint256
    new_best: bool

event Slashed:
    node: indexed(uint256)
    cause: uint8  # 0 over-claim, 1 equivocation, 2 deviation
    amount: uint256


operator: public(address)
p: public(Params)
tally: public(address)  # the committee statistics (Tally.vy)

n_nodes: public(uint256)
node_id: public(HashMap[address, uint256])  # id + 1 (0: not a node)
node_addr: public(HashMap[uint256, address])
liquid: public(HashMap[uint256, uint256])
bonded: public(HashMap[uint256, uint256])
escrow: public(HashMap[uint256, uint256])
unbonding: public(HashMap[uint256, HashMap[uint256, uint256]])  # [id][slot]
unbond_block: HashMap[uint256, HashMap[uint256, uint256]]  # request block
unbonding_sum: HashMap[uint256, uint256]
oldest: HashMap[uint256, uint256]  # earliest request block + 1 held (0: none)
unbond_new: HashMap[uint256, uint256]  # requested during an open block ...
unbond_new_block: HashMap[uint256, uint256]  # ... this one (joins its slot after)
last_unbond: public(HashMap[uint256, uint256])  # block + 1 of the last request
snap_epoch: HashMap[uint256, uint256]
snap_bond: HashMap[uint256, uint256]
total_bonded: public(uint256)

initial_supply: public(uint256)
genesis_burned: public(uint256)
emitted: public(uint256)
burned: public(uint256)
slashed: public(uint256[3])
deposited: public(uint256)
withdrawn: public(uint256)

block_number: public(uint256)
epoch: uint256
in_block: public(bool)
released_through: public(uint256)  # requests of blocks q with q + delay < this are free
beacon: public(bytes32)
started: bool

best_score: public(HashMap[uint256, uint256])
best_id: public(HashMap[uint256, uint256])
best_weight: public(HashMap[uint256, uint256])  # evidence behind best_score
n_models: public(uint256)
n_proposals: public(uint256)
proposals: HashMap[uint256, Proposal]
seats_of: HashMap[uint256, DynArray[uint256, MAX_SEATS]]
votes: HashMap[uint256, HashMap[uint256, Vote]]
seat_count: public(HashMap[uint256, HashMap[uint256, uint256]])
proposed_in: HashMap[uint256, uint256]  # node -> block + 1 of its last commit

committed: DynArray[uint256, MAX_SLOTS]  # committed this block
pending: DynArray[uint256, MAX_SLOTS]  # committed last block: reveal now
voting: DynArray[uint256, MAX_SLOTS]  # revealed this block: votes committed
settling: DynArray[uint256, MAX_SLOTS]  # revealed last block: settle now

lock: bool


@deploy
@payable
def __init__(
    params: Params, best: DynArray[uint256, MAX_SLOTS], seed: bytes32, tally: address
):
    """
    @param params The rules (see Params).
    @param best Certified genesis score per task (score units).
    @param seed Initial beacon.
    @param tally The deployed Tally contract (committee statistics).
    @dev msg.value funds the emission reserve and must equal emission_cap.
    """
    assert params.delay > 0 and params.delay <= MAX_DELAY, "BadParams"
    assert params.n_slots <= MAX_SLOTS, "BadParams"
    assert params.committee_size <= MAX_SEATS, "BadParams"
    assert len(best) == params.n_tasks, "BadParams"
    assert msg.value == params.emission_cap, "ReserveMismatch"
    assert tally != empty(address), "BadParams"
    self.tally = tally
    self.operator = msg.sender
    self.p = params
    for t: uint256 in range(MAX_SLOTS):
        if t >= params.n_tasks:
            break
        self.best_score[t] = best[t]
        self.best_id[t] = t
        self.best_weight[t] = 1
    self.n_models = params.n_tasks
    self.n_proposals = params.n_tasks
    self.beacon = seed


# -- genesis -----------------------------------------------------------------


@external
@payable
def genesis(
    addrs: DynArray[address, 1024],
    liquid: DynArray[uint256, 1024],
    bonded: DynArray[uint256, 1024],
    burned: uint256,
):
    """
    @notice Register nodes with their genesis holdings (operator, before
            block 0; may be called in several batches).
    @dev msg.value must equal the holdings registered.
    """
    assert msg.sender == self.operator, "NotOperator"
    assert not self.started, "AlreadyStarted"
    assert len(addrs) == len(liquid) and len(addrs) == len(bonded), "BadGenesis"
    total: uint256 = 0
    for i: uint256 in range(1024):
        if i >= len(addrs):
            break
        assert self.node_id[addrs[i]] == 0, "DuplicateNode"
        n: uint256 = self.n_nodes
        self.n_nodes = n + 1
        self.node_id[addrs[i]] = n + 1
        self.node_addr[n] = addrs[i]
        self.liquid[n] = liquid[i]
        self.bonded[n] = bonded[i]
        self.total_bonded += bonded[i]
        total += liquid[i] + bonded[i]
        log Move(node=n, src=MINT, dst=LIQUID, amount=liquid[i])
        log Move(node=n, src=MINT, dst=BONDED, amount=bonded[i])
    assert msg.value == total, "GenesisValueMismatch"
    self.initial_supply += total + burned
    self.genesis_burned += burned
    self.burned += burned


# -- internal accounting -------------------------------------------------------


@internal
def _id(who: address) -> uint256:
    n: uint256 = self.node_id[who]
    assert n != 0, "UnknownNode"
    return n - 1


@internal
def _move(node: uint256, src: uint8, dst: uint8, amount: uint256):
    if amount > 0:
        log Move(node=node, src=src, dst=dst, amount=amount)


@internal
def _snap(node: uint256):
    """Remember the bond at the start of the block before changing it."""
    if self.in_block and self.snap_epoch[node] != self.epoch:
        self.snap_epoch[node] = self.epoch
        self.snap_bond[node] = self.bonded[node]


@view
@internal
def _bond_at_start(node: uint256) -> uint256:
    if self.in_block and self.snap_epoch[node] == self.epoch:
        return self.snap_bond[node]
    return self.bonded[node]


@internal
def _release(node: uint256):
    """
    @notice Pay out matured unbonding slots to the liquid balance (lazy):
            a request of block q is released when block q + delay ends.
    @dev A request made during an open block q waits in unbond_new until
         the block has ended: only then has the cohort of q - delay, which
         shares its slot, been released (merging them would hold that
         cohort back another delay).
    """
    d: uint256 = self.p.delay
    first: uint256 = self.oldest[node]
    if first != 0 and first - 1 + d < self.released_through:
        left: uint256 = 0
        for s: uint256 in range(MAX_DELAY):
            if s >= d:
                break
            amount: uint256 = self.unbonding[node][s]
            if amount == 0:
                continue
            q: uint256 = self.unbond_block[node][s]
            if q + d < self.released_through:
                self.unbonding[node][s] = 0
                self.unbonding_sum[node] -= amount
                self.liquid[node] += amount
                self._move(node, UNBONDING, LIQUID, amount)
            elif left == 0 or q + 1 < left:
                left = q + 1
        self.oldest[node] = left
    waiting: uint256 = self.unbond_new[node]
    q_new: uint256 = self.unbond_new_block[node]
    if waiting == 0 or q_new >= self.released_through:
        return
    self.unbond_new[node] = 0
    if q_new + d < self.released_through:
        self.unbonding_sum[node] -= waiting
        self.liquid[node] += waiting
        self._move(node, UNBONDING, LIQUID, waiting)
        return
    slot: uint256 = q_new % d
    self.unbonding[node][slot] += waiting
    self.unbond_block[node][slot] = q_new
    if self.oldest[node] == 0 or q_new + 1 < self.oldest[node]:
        self.oldest[node] = q_new + 1


@internal
def _take_stake(node: uint256, amount: uint256, cause: uint8) -> uint256:
    """Take up to amount: the bond first, then unbonding slots in slot order,
    then this block's unbond requests."""
    if amount == 0:
        return 0
    self._release(node)
    self._snap(node)
    from_bond: uint256 = min(amount, self.bonded[node])
    self.bonded[node] -= from_bond
    self.total_bonded -= from_bond
    self._move(node, BONDED, BURN, from_bond)
    rest: uint256 = amount - from_bond
    for s: uint256 in range(MAX_DELAY):
        if s >= self.p.delay or rest == 0:
            break
        take: uint256 = min(rest, self.unbonding[node][s])
        self.unbonding[node][s] -= take
        self.unbonding_sum[node] -= take
        rest -= take
        self._move(node, UNBONDING, BURN, take)
    take_new: uint256 = min(rest, self.unbond_new[node])
    if take_new > 0:
        self.unbond_new[node] -= take_new
        self.unbonding_sum[node] -= take_new
        rest -= take_new
        self._move(node, UNBONDING, BURN, take_new)
    taken: uint256 = amount - rest
    if taken > 0:
        log Slashed(node=node, cause=cause, amount=taken)
    return taken


@pure
@internal
def _mul_ppm(amount: uint256, ppm: uint256) -> uint256:
    return amount // PPM * ppm + (amount % PPM) * ppm // PPM


@internal
def _credit(node: uint256, amount: uint256, src: uint8):
    if amount > 0:
        self.liquid[node] += amount
        self._move(node, src, LIQUID, amount)


# -- staking -----------------------------------------------------------------


@external
def bond(amount: uint256):
    """@notice Bond liquid units."""
    me: uint256 = self._id(msg.sender)
    self._release(me)
    assert self.liquid[me] >= amount, "InsufficientBalance"
    self._snap(me)
    self.liquid[me] -= amount
    self.bonded[me] += amount
    self.total_bonded += amount
    self._move(me, LIQUID, BONDED, amount)


@external
def unbond(amount: uint256):
    """
    @notice Start unbonding: released when block `block_number + delay`
            ends, slashable meanwhile.
    @dev During a block the request waits in unbond_new until the block has
         ended (see _release); between blocks it joins its slot at once.
    """
    me: uint256 = self._id(msg.sender)
    self._release(me)
    assert self.bonded[me] >= amount, "InsufficientBond"
    self._snap(me)
    self.bonded[me] -= amount
    self.total_bonded -= amount
    self.unbonding_sum[me] += amount
    if self.in_block:
        self.unbond_new[me] += amount
        self.unbond_new_block[me] = self.block_number
    else:
        slot: uint256 = self.block_number % self.p.delay
        self.unbonding[me][slot] += amount
        self.unbond_block[me][slot] = self.block_number
        if self.oldest[me] == 0:
            self.oldest[me] = self.block_number + 1
    self.last_unbond[me] = self.block_number + 1
    self._move(me, BONDED, UNBONDING, amount)


@external
@payable
def deposit():
    """@notice Add wei to the caller's liquid balance."""
    me: uint256 = self._id(msg.sender)
    self.liquid[me] += msg.value
    self.deposited += msg.value
    self._move(me, OUTSIDE, LIQUID, msg.value)


@external
def withdraw(amount: uint256):
    """
    @notice Pull payment: send liquid units (wei) to the caller.
    @dev Checks-effects-interactions plus a lock: a re-entrant call from the
         recipient reverts with Reentrancy (and with it the whole withdrawal).
    """
    assert not self.lock, "Reentrancy"
    self.lock = True
    me: uint256 = self._id(msg.sender)
    self._release(me)
    assert self.liquid[me] >= amount, "InsufficientBalance"
    self.liquid[me] -= amount
    self.withdrawn += amount
    self._move(me, LIQUID, OUTSIDE, amount)
    raw_call(msg.sender, b"", value=amount)
    self.lock = False


# -- block schedule (producer) -------------------------------------------------


@external
def begin_block(seats: DynArray[DynArray[uint256, MAX_SEATS], MAX_SLOTS]):
    """
    @notice Open the next block: move the beacon, seat the committees of the
            proposals committed last block (one list per pending proposal).
    @dev The seats are the producer's stake-weighted draw (draw_seat is the
         contract's own); each must be bonded at least min_bond and must not
         be the proposer.
    """
    assert msg.sender == self.operator, "NotOperator"
    assert not self.in_block, "BlockOpen"
    if self.started:
        self.block_number += 1
    self.started = True
    self.epoch += 1
    self.in_block = True
    self.beacon = keccak256(
        abi_encode(self.beacon, block.prevrandao, self.block_number)
    )
    log BlockBegun(block=self.block_number, beacon=self.beacon)
    assert len(seats) == len(self.pending), "CommitteeMismatch"
    need: uint256 = max(self.p.min_bond, 1)
    for j: uint256 in range(MAX_SLOTS):
        if j >= len(self.pending):
            break
        pid: uint256 = self.pending[j]
        assert len(seats[j]) == self.p.committee_size, "CommitteeMismatch"
        for s: uint256 in seats[j]:
            assert s < self.n_nodes, "UnknownNode"
            assert s != self.proposals[pid].proposer, "ProposerInCommittee"
            assert self.bonded[s] >= need, "StakeBelowMinimum"
            self.seat_count[pid][s] += 1
        self.seats_of[pid] = seats[j]
        log CommitteeAssigned(pid=pid, seats=seats[j])


@view
@external
def draw_seat(pid: uint256, seat: uint256) -> uint256:
    """
    @notice The contract's stake-weighted seat draw from the beacon: node i
            with probability bond_i / total over eligible nodes.
    @dev O(n_nodes); for chain-native runs. Replays of the JAX simulator post
         its (threefry) draw through begin_block instead.
    """
    need: uint256 = max(self.p.min_bond, 1)
    total: uint256 = 0
    for i: uint256 in range(1024):
        if i >= self.n_nodes:
            break
        if self.bonded[i] >= need:
            total += self.bonded[i]
    if total == 0:
        return max_value(uint256)
    u: uint256 = convert(keccak256(abi_encode(self.beacon, pid, seat)), uint256) % total
    acc: uint256 = 0
    for i: uint256 in range(1024):
        if i >= self.n_nodes:
            break
        if self.bonded[i] >= need:
            acc += self.bonded[i]
            if u < acc:
                return i
    return max_value(uint256)


@external
def end_block():
    """
    @notice Close the block: unrevealed proposals are abandoned (deposit and
            fee burned), stages move on, unbonding of this block matures.
    """
    assert msg.sender == self.operator, "NotOperator"
    assert self.in_block, "NoBlockOpen"
    assert len(self.settling) == 0, "NotFinalized"
    burned: uint256 = 0
    for pid: uint256 in self.pending:
        if not self.proposals[pid].revealed:
            prop: Proposal = self.proposals[pid]
            amount: uint256 = prop.deposit + prop.fee
            self.escrow[prop.proposer] -= amount
            self._move(prop.proposer, ESCROW, BURN, amount)
            burned += amount
            self.proposals[pid].stage = DONE
            log Settled(
                pid=pid, outcome=ABANDONED, certified=0, reward=0, slash=0,
                new_best=False
            )
    self.burned += burned
    self.settling = self.voting
    self.voting = []
    self.pending = self.committed
    self.committed = []
    self.in_block = False
    self.released_through = self.block_number + 1
    log BlockEnded(block=self.block_number, emitted=self.emitted, burned=self.burned)


# -- proposals ---------------------------------------------------------------


@external
def commit_proposal(commitment: bytes32) -> uint256:
    """
    @notice Commit to a proposal (keccak256(abi_encode(task, claimed, salt,
            proposer))), escrowing the deposit and the fee.
    @return The proposal id.
    """
    assert self.in_block, "NoBlockOpen"
    me: uint256 = self._id(msg.sender)
    assert self._bond_at_start(me) >= max(self.p.min_bond, 1), "StakeBelowMinimum"
    assert self.proposed_in[me] != self.block_number + 1, "OneProposalPerBlock"
    assert len(self.committed) < self.p.n_slots, "NoFreeSlot"
    need: uint256 = self.p.deposit + self.p.fee
    self._release(me)
    assert self.liquid[me] >= need, "InsufficientBalance"
    self.liquid[me] -= need
    self.escrow[me] += need
    self._move(me, LIQUID, ESCROW, need)
    pid: uint256 = self.n_proposals
    self.n_proposals = pid + 1
    self.proposed_in[me] = self.block_number + 1
    self.proposals[pid] = Proposal(
        proposer=me, commitment=commitment, commit_block=self.block_number,
        stage=COMMITTED, task=0, claimed=0, deposit=self.p.deposit, fee=self.p.fee,
        best_at_vote=0, revealed=False, incumbent_id=0
    )
    self.committed.append(pid)
    log ProposalCommitted(pid=pid, proposer=me, commitment=commitment)
    return pid


@external
def reveal_proposal(pid: uint256, task: uint256, claimed: uint256, salt: bytes32):
    """@notice Reveal a proposal the block after its commit; voting opens."""
    assert self.in_block, "NoBlockOpen"
    assert len(self.settling) == 0, "NotFinalized"
    me: uint256 = self._id(msg.sender)
    prop: Proposal = self.proposals[pid]
    assert prop.stage == COMMITTED, "NotCommitted"
    assert prop.proposer == me, "NotProposer"
    assert self.block_number == prop.commit_block + 1, "WrongRound"
    assert task < self.p.n_tasks, "UnknownTask"
    assert keccak256(abi_encode(task, claimed, salt, msg.sender)) == prop.commitment, (
        "CommitmentMismatch"
    )
    best: uint256 = self.best_score[task]
    self.proposals[pid].stage = VOTING
    self.proposals[pid].revealed = True
    self.proposals[pid].task = task
    self.proposals[pid].claimed = claimed
    self.proposals[pid].best_at_vote = best
    self.proposals[pid].incumbent_id = self.best_id[task]
    self.voting.append(pid)
    log ProposalRevealed(pid=pid, task=task, claimed=claimed, best_at_vote=best)


# -- votes -------------------------------------------------------------------


@pure
@external
def vote_commitment(
    pid: uint256, accept: bool, score: uint256, incumbent: uint256, salt: bytes32,
    round: uint256, voter: address
) -> bytes32:
    """@notice The hash a vote commits to: vote + salt + round + voter."""
    return keccak256(abi_encode(pid, accept, score, incumbent, salt, round, voter))


@view
@external
def vote_message(
    pid: uint256, accept: bool, score: uint256, incumbent: uint256
) -> bytes32:
    """@notice The hash a validator signs for a vote (equivocation evidence)."""
    return keccak256(abi_encode(VOTE_DOMAIN, self, pid, accept, score, incumbent))


@external
def commit_vote(pid: uint256, commitment: bytes32):
    """@notice A seated validator commits its hidden vote (reveal block + 0)."""
    assert self.in_block, "NoBlockOpen"
    me: uint256 = self._id(msg.sender)
    assert self.proposals[pid].stage == VOTING, "VotingClosed"
    assert self.proposals[pid].proposer != me, "SelfVote"
    commit_block: uint256 = self.proposals[pid].commit_block
    assert self.block_number == commit_block + 1, "VotingClosed"
    assert self.seat_count[pid][me] > 0, "NotInCommittee"
    assert self.last_unbond[me] <= commit_block + 1, "VotingWhileUnbonding"
    assert not self.votes[pid][me].committed, "DoubleVote"
    self.votes[pid][me] = Vote(
        commitment=commitment, round=self.block_number, committed=True,
        revealed=False, equivocated=False, accept=False, score=0, incumbent=0
    )
    log VoteCommitted(pid=pid, voter=me, commitment=commitment)


@external
def reveal_vote(
    pid: uint256, accept: bool, score: uint256, incumbent: uint256, salt: bytes32,
    round: uint256
):
    """
    @notice Reveal a committed vote in the block after the commit, before
            the proposal settles (a later reveal would count for nothing).
    @param score The voter's score of the candidate.
    @param incumbent Its score of the task's incumbent on the same blocks
           (the paired rule's gain is score - incumbent; other rules ignore it).
    """
    assert self.in_block, "NoBlockOpen"
    me: uint256 = self._id(msg.sender)
    assert self.proposals[pid].stage == VOTING, "VotingClosed"
    v: Vote = self.votes[pid][me]
    assert v.committed, "RevealWithoutCommit"
    assert not v.revealed, "DoubleReveal"
    assert not v.equivocated, "Equivocated"
    assert round == v.round, "ReplayedReveal"
    assert self.block_number == v.round + 1, "WrongRound"
    expected: bytes32 = keccak256(
        abi_encode(pid, accept, score, incumbent, salt, round, msg.sender)
    )
    assert expected == v.commitment, "CommitmentMismatch"
    self.votes[pid][me].revealed = True
    self.votes[pid][me].accept = accept
    self.votes[pid][me].score = score
    self.votes[pid][me].incumbent = incumbent
    log VoteRevealed(pid=pid, voter=me, accept=accept, score=score, incumbent=incumbent)


@external
def report_equivocation(
    pid: uint256,
    offender: uint256,
    accept_a: bool,
    score_a: uint256,
    incumbent_a: uint256,
    sig_a: Bytes[65],
    accept_b: bool,
    score_b: uint256,
    incumbent_b: uint256,
    sig_b: Bytes[65],
):
    """
    @notice Evidence: two conflicting votes signed by the offender on pid.
            Its open vote stops counting; its bond is slashed at settlement.
    @dev Only while pid is being voted on: after its settlement nothing
         would be slashed any more.
    """
    assert offender < self.n_nodes, "UnknownNode"
    assert (
        accept_a != accept_b or score_a != score_b or incumbent_a != incumbent_b
    ), "VotesDoNotConflict"
    signer: address = self.node_addr[offender]
    assert self._signer(pid, accept_a, score_a, incumbent_a, sig_a) == signer, (
        "BadSignature"
    )
    assert self._signer(pid, accept_b, score_b, incumbent_b, sig_b) == signer, (
        "BadSignature"
    )
    assert self.proposals[pid].stage == VOTING, "VotingClosed"
    v: Vote = self.votes[pid][offender]
    assert v.committed and not v.revealed and not v.equivocated, "NoOpenVote"
    self.votes[pid][offender].equivocated = True
    log Equivocation(pid=pid, offender=offender, reporter=msg.sender)


@view
@internal
def _signer(
    pid: uint256, accept: bool, score: uint256, incumbent: uint256, sig: Bytes[65]
) -> address:
    h: bytes32 = keccak256(abi_encode(VOTE_DOMAIN, self, pid, accept, score, incumbent))
    r: bytes32 = extract32(sig, 0)
    s: bytes32 = extract32(sig, 32)
    v: uint8 = convert(slice(sig, 64, 1), uint8)
    return ecrecover(h, v, r, s)


# -- settlement ----------------------------------------------------------------


@external
def finalize_block():
    """
    @notice Tally and settle every proposal whose votes were committed last
            block, in slot order (nasjax.protocol.economics.finalize).
    """
    assert msg.sender == self.operator, "NotOperator"
    assert self.in_block, "NoBlockOpen"
    p: Params = self.p
    n_slots: uint256 = len(self.settling)
    budget: uint256 = p.max_reward_per_block
    if self.emitted >= p.emission_cap:
        budget = 0
    else:
        budget = min(budget, p.emission_cap - self.emitted)

    rewards: DynArray[uint256, MAX_SLOTS] = []
    outcomes: DynArray[uint8, MAX_SLOTS] = []
    slashes: DynArray[uint256, MAX_SLOTS] = []
    # agrees[j][i]: seat i of slot j voted with the outcome (paired rule: its
    # gain survived the outlier screen).
    agrees: DynArray[DynArray[bool, MAX_SEATS], MAX_SLOTS] = []
    n_withs: DynArray[uint256, MAX_SLOTS] = []  # seats with each decided outcome
    n_with_total: uint256 = 0
    total_reward: uint256 = 0
    rule: Rule = Rule(
        quorum_seats=p.quorum_seats,
        min_improvement=p.min_improvement,
        claim_tolerance=p.claim_tolerance,
        median_rule=p.median_rule,
        paired_rule=p.paired_rule,
        keep_overclaimed=p.keep_overclaimed,
    )
    for j: uint256 in range(MAX_SLOTS):
        if j >= n_slots:
            break
        pid: uint256 = self.settling[j]
        prop: Proposal = self.proposals[pid]
        seats: DynArray[uint256, MAX_SEATS] = self.seats_of[pid]
        votes: DynArray[Ballot, MAX_SEATS] = []
        firsts: DynArray[uint256, MAX_SEATS] = []
        for s: uint256 in seats:
            v: Vote = self.votes[pid][s]
            votes.append(
                Ballot(
                    counted=v.revealed and not v.equivocated,
                    distinct=s not in firsts,
                    accept=v.accept,
                    score=v.score,
                    incumbent=v.incumbent,
                )
            )
            if s not in firsts:
                firsts.append(s)
        d: Decision = staticcall Tally(self.tally).decide(
            votes, prop.best_at_vote, prop.claimed, rule
        )
        agrees.append(d.agree)
        n_counted: uint256 = d.n_counted
        accepted: bool = d.accepted

        # Registry: re-certify the incumbent, then the candidate's value.
        t: uint256 = prop.task
        same: bool = prop.incumbent_id == self.best_id[t]
        if p.paired_rule and p.recertify and same and n_counted > 0:
            inc: uint256 = d.incumbent
            w_old: uint256 = self.best_weight[t]
            w_new: uint256 = w_old + n_counted
            self.best_score[t] = (w_old * self.best_score[t] + n_counted * inc) // w_new
            self.best_weight[t] = w_new
        best: uint256 = self.best_score[t]
        value: int256 = d.certified
        if p.paired_rule:
            base: uint256 = prop.best_at_vote
            if same:
                base = best
            value = convert(base, int256) + d.estimate

        outcome: uint8 = EXPIRED
        slash: uint256 = 0
        reward: uint256 = 0
        new_best: bool = False
        if accepted:
            outcome = ACCEPTED
            kept_anyway: bool = p.paired_rule and p.keep_overclaimed and d.over
            if kept_anyway:
                slash = self._mul_ppm(prop.deposit, p.overclaim_slash)
            else:
                paid: int256 = min(value, convert(prop.claimed, int256))
                if paid > convert(best, int256):
                    gain: uint256 = convert(paid, uint256) - best
                    reward = min(gain * p.reward_per_point // SCORE_ONE, budget)
                    budget -= reward
            if value > convert(best, int256):
                new_best = True
                self.best_score[t] = convert(value, uint256)
                self.best_id[t] = pid
                self.best_weight[t] = n_counted
            self.n_models += 1
        elif d.quorum:
            outcome = REJECTED
            if d.over:
                slash = self._mul_ppm(prop.deposit, p.overclaim_slash)
        n_with: uint256 = 0
        if outcome != EXPIRED:
            for a: bool in d.agree:
                if a:
                    n_with += 1
        n_withs.append(n_with)
        n_with_total += n_with
        rewards.append(reward)
        outcomes.append(outcome)
        slashes.append(slash)
        total_reward += reward
        log Settled(
            pid=pid, outcome=outcome, certified=convert(max(value, 0), uint256),
            reward=reward, slash=slash, new_best=new_best
        )

    # Seats voting with the outcome share the fee, the validators' part of
    # the reward, the whistleblower part of a slash and the emission.
    emitted: uint256 = total_reward
    room: uint256 = 0
    if p.emission_cap > self.emitted + emitted:
        room = p.emission_cap - self.emitted - emitted
    per_seat: uint256 = min(p.validator_emission, room) // max(n_with_total, 1)
    emitted += per_seat * n_with_total

    burned: uint256 = 0
    stake_total: uint256 = max(self.total_bonded, 1)
    devs: DynArray[uint256, MAX_PAIRS] = []
    dev_nodes: DynArray[uint256, MAX_PAIRS] = []
    eq_nodes: DynArray[uint256, MAX_PAIRS] = []
    eq_bonds: DynArray[uint256, MAX_PAIRS] = []
    offenders: DynArray[uint256, MAX_PAIRS] = []
    offender_stake: uint256 = 0
    for j: uint256 in range(MAX_SLOTS):
        if j >= n_slots:
            break
        pid: uint256 = self.settling[j]
        prop: Proposal = self.proposals[pid]
        seats: DynArray[uint256, MAX_SEATS] = self.seats_of[pid]
        outcome: uint8 = outcomes[j]
        decided: bool = outcome != EXPIRED
        to_proposer: uint256 = self._mul_ppm(rewards[j], p.proposer_share)
        refund: uint256 = prop.deposit - slashes[j]
        if not decided:
            refund += prop.fee
        whistle: uint256 = self._mul_ppm(slashes[j], p.whistleblower_share)
        pool: uint256 = rewards[j] - to_proposer + whistle
        if decided:
            pool += prop.fee
        n_with: uint256 = n_withs[j]
        each: uint256 = 0
        if n_with > 0:
            each = pool // n_with
        dust: uint256 = pool - each * n_with
        # Escrow (deposit + fee) -> refund, burned slash, the seats' pool;
        # minted reward -> proposer share and the seats' pool.
        self.escrow[prop.proposer] -= prop.deposit + prop.fee
        self._credit(prop.proposer, refund, ESCROW)
        self._move(prop.proposer, ESCROW, BURN, slashes[j] - whistle)
        self._move(prop.proposer, ESCROW, POOL, prop.deposit + prop.fee - refund - slashes[j] + whistle)
        self._credit(prop.proposer, to_proposer, MINT)
        self._move(prop.proposer, MINT, POOL, rewards[j] - to_proposer)
        self._move(prop.proposer, POOL, BURN, dust)
        burned += slashes[j] - whistle + dust
        if slashes[j] > 0:
            log Slashed(node=prop.proposer, cause=0, amount=slashes[j])
        first_seat: DynArray[uint256, MAX_SEATS] = []
        for i: uint256 in range(MAX_SEATS):
            if i >= len(seats):
                break
            s: uint256 = seats[i]
            v: Vote = self.votes[pid][s]
            counted: bool = v.revealed and not v.equivocated
            if decided and agrees[j][i]:
                self._credit(s, each, POOL)
                self._credit(s, per_seat, MINT)
            elif decided and counted:
                devs.append(self._mul_ppm(self.bonded[s], p.deviation_penalty))
                dev_nodes.append(s)
            if v.equivocated and s not in first_seat:
                eq_nodes.append(s)
                eq_bonds.append(self.bonded[s])
                if s not in offenders:
                    offenders.append(s)
                    offender_stake += self.bonded[s]
            if s not in first_seat:
                first_seat.append(s)
    self.emitted += emitted
    self.burned += burned

    eq_ppm: uint256 = min(
        p.equivocation_slash
        * (PPM * stake_total + p.correlation_ppm * offender_stake)
        // (PPM * stake_total),
        PPM,
    )
    took: uint256 = 0
    for i: uint256 in range(MAX_PAIRS):
        if i >= len(dev_nodes):
            break
        took = self._take_stake(dev_nodes[i], devs[i], 2)
        self.slashed[2] += took
        self.burned += took
    for i: uint256 in range(MAX_PAIRS):
        if i >= len(eq_nodes):
            break
        took = self._take_stake(eq_nodes[i], self._mul_ppm(eq_bonds[i], eq_ppm), 1)
        self.slashed[1] += took
        self.burned += took
    for j: uint256 in range(MAX_SLOTS):
        if j >= n_slots:
            break
        self.slashed[0] += slashes[j]
        self.proposals[self.settling[j]].stage = DONE
    self.settling = []


# -- views ---------------------------------------------------------------------


@view
@external
def unbonding_total(node: uint256) -> uint256:
    """@notice Units in the node's unbonding slots (matured or not)."""
    return self.unbonding_sum[node]


@view
@external
def holdings(node: uint256) -> uint256[4]:
    """@notice (liquid, bonded, unbonding, escrow) with matured unbonding liquid."""
    liq: uint256 = self.liquid[node]
    unb: uint256 = self.unbonding_sum[node]
    d: uint256 = self.p.delay
    first: uint256 = self.oldest[node]
    if first != 0 and first - 1 + d < self.released_through:
        for s: uint256 in range(MAX_DELAY):
            if s >= d:
                break
            amount: uint256 = self.unbonding[node][s]
            if amount > 0 and self.unbond_block[node][s] + d < self.released_through:
                liq += amount
                unb -= amount
    if self.unbond_new[node] > 0 and self.unbond_new_block[node] + d < self.released_through:
        liq += self.unbond_new[node]
        unb -= self.unbond_new[node]
    return [liq, self.bonded[node], unb, self.escrow[node]]


@view
@external
def supply() -> uint256:
    """@notice Units held by all nodes (liquid, bonded, unbonding, escrow)."""
    total: uint256 = 0
    for i: uint256 in range(1024):
        if i >= self.n_nodes:
            break
        total += self.liquid[i] + self.bonded[i] + self.escrow[i] + self.unbonding_sum[i]
    return total


@view
@external
def expected_supply() -> uint256:
    """@notice initial + emitted - burned - withdrawn + deposited."""
    return self.initial_supply + self.emitted + self.deposited - self.burned - self.withdrawn


@view
@external
def stages() -> (DynArray[uint256, MAX_SLOTS], DynArray[uint256, MAX_SLOTS], DynArray[uint256, MAX_SLOTS], DynArray[uint256, MAX_SLOTS]):
    """@notice Proposal ids (committed, pending reveal, voting, settling)."""
    return self.committed, self.pending, self.voting, self.settling


@view
@external
def vote_of(pid: uint256, node: uint256) -> Vote:
    """@notice The vote record of a validator on a proposal."""
    return self.votes[pid][node]


@view
@external
def proposal(pid: uint256) -> Proposal:
    """@notice The proposal record."""
    return self.proposals[pid]
