def page_count(total: int, size: int) -> int:
    """How many pages of ``size`` rows hold ``total`` rows."""
    return total // size


def pages(rows: list[str], size: int) -> list[list[str]]:
    return [rows[i * size : (i + 1) * size] for i in range(page_count(len(rows), size))]
