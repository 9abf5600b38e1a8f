from ledger.amounts import format_amount


def test_small_amounts() -> None:
    assert format_amount(1234) == "12.34"
