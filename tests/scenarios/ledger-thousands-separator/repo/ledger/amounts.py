def format_amount(cents: int) -> str:
    """An amount in cents as the ledger prints it: 12345678 -> 123,456.78."""
    whole, frac = divmod(cents, 100)
    return f"{whole}.{frac:02d}"
