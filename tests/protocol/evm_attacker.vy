# pragma version ~=0.4.3
"""A node that re-enters Market.withdraw from its receive hook."""


interface Market:
    def withdraw(amount: uint256): nonpayable


target: public(address)
reenter: public(bool)
received: public(uint256)


@external
def set_target(market: address):
    self.target = market


@external
def attack(amount: uint256, reenter: bool):
    self.reenter = reenter
    extcall Market(self.target).withdraw(amount)


@external
@payable
def __default__():
    self.received += msg.value
    if self.reenter:
        self.reenter = False
        extcall Market(self.target).withdraw(msg.value)
