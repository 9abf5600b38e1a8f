from ledger.amounts import format_amount


class ReconciliationError(Exception):
    pass


def reconcile(statement_line: str, cents: int) -> None:
    expected = format_amount(cents)
    if statement_line != expected:
        raise ReconciliationError(f"statement shows {statement_line}, ledger expects {expected}")
