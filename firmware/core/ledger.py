# The balance ledger: integer minor units, exactly-once credits, charges with the
# sub-minor remainder carried forever.
#
# Invariant (checked by check() and by the property tests):
#     balance_minor == credits_minor - charges_minor - standing_minor - recovered_minor
#     0 <= rem_micro < 1_000_000
#     charges_minor * 1_000_000 + rem_micro == sum of every cost_micro ever charged
# so the sum of all charges equals the exact cost to within one minor unit, forever.
#
# Exactly-once: the ids of the last TXN_KEEP credits are kept (a ring, persisted with
# the balance in the same record, so both change atomically). The bound and why it
# suffices are in docs/ledger.md.
from micropython import const

from core.check import ID_CHARS, ID_MAX, int_in

MICRO = const(1000000)
TXN_KEEP = const(64)
TXN_MAX_LEN = ID_MAX


def check_txn(txn):
    if not isinstance(txn, str):
        raise ValueError("txn must be a str")
    if not 0 < len(txn) <= TXN_MAX_LEN:
        raise ValueError("txn length must be 1..40")
    for c in txn:
        if c not in ID_CHARS:
            raise ValueError("txn has a character outside [A-Za-z0-9_.:-]")


def check_amount(amount_minor, max_minor):
    int_in(amount_minor, "amount", 1)
    if amount_minor > max_minor:
        raise ValueError("amount above recharge_max_minor")


def _field(d, key, lo=None):
    return int_in(d.get(key, 0), "ledger field " + key, lo)


class Ledger:
    def __init__(self, d=None):
        d = d or {}
        # from_dict validates a persisted record (a CRC-valid but inconsistent record
        # is refused rather than trusted)
        self.balance_minor = _field(d, "bal")
        self.rem_micro = _field(d, "rem", 0)
        self.credits_minor = _field(d, "cr", 0)
        self.charges_minor = _field(d, "ch", 0)
        self.standing_minor = _field(d, "st", 0)
        self.recovered_minor = _field(d, "rc", 0)
        txns = d.get("tx", [])
        if not isinstance(txns, list) or len(txns) > TXN_KEEP:
            raise ValueError("ledger field tx invalid")
        for t in txns:
            check_txn(t)
        self.txns = list(txns)
        if self.rem_micro >= MICRO:
            raise ValueError("ledger field rem invalid")
        if not self.consistent():
            raise ValueError("ledger totals do not add up")

    def to_dict(self):
        return {"bal": self.balance_minor, "rem": self.rem_micro, "cr": self.credits_minor,
                "ch": self.charges_minor, "st": self.standing_minor,
                "rc": self.recovered_minor, "tx": self.txns}

    def consistent(self):
        return self.balance_minor == (self.credits_minor - self.charges_minor
                                      - self.standing_minor - self.recovered_minor)

    def seen(self, txn):
        return txn in self.txns

    def credit(self, txn, amount_minor, max_minor, recovered_minor=0):
        """Credit amount_minor once per txn; recovered_minor of it goes to debt
        recovery instead of the balance. False if txn was already credited."""
        check_txn(txn)
        check_amount(amount_minor, max_minor)
        if not isinstance(recovered_minor, int) or not 0 <= recovered_minor <= amount_minor:
            raise ValueError("recovered must be 0..amount")
        if txn in self.txns:
            return False
        if len(self.txns) >= TXN_KEEP:
            self.txns.pop(0)        # first: the list never grows past TXN_KEEP slots (a
        self.txns.append(txn)       # 65th would double it, one more contiguous block)
        self.credits_minor += amount_minor
        self.recovered_minor += recovered_minor
        self.balance_minor += amount_minor - recovered_minor
        return True

    def charge(self, cost_micro):
        """Charge an exact cost in micro-minor units; returns the whole minor units
        taken now (the rest stays in rem_micro)."""
        int_in(cost_micro, "cost", 0)
        total = self.rem_micro + cost_micro
        minor = total // MICRO
        self.rem_micro = total - minor * MICRO
        self.charges_minor += minor
        self.balance_minor -= minor
        return minor

    def standing(self, amount_minor):
        int_in(amount_minor, "standing charge", 0)
        self.standing_minor += amount_minor
        self.balance_minor -= amount_minor
