from ledger.amounts import format_amount
from ledger.reconcile import reconcile


def test_thousands_are_separated() -> None:
    assert format_amount(12345678) == "123,456.78"
    assert format_amount(100000) == "1,000.00"
    assert format_amount(5) == "0.05"


def test_a_statement_over_a_thousand_reconciles() -> None:
    reconcile("123,456.78", 12345678)
