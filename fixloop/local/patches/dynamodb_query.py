"""Speed: a moto DynamoDB ``Query`` on a table reads and sizes every item of the table.

``moto.dynamodb.models.table.Table.query`` starts from ``all_items()``, every item of every
partition sorted, keeps those of the queried partition, then walks them in query order,
computing each item's size before it even tests the sort key condition. The event log keeps
every investigation in one table, so a query grew with everything the process ever wrote, and
reading "after position X" walked the investigation's whole log. A query on the table itself
(not an index) now starts from its own partition, without the items that precede the first
one matching the sort key condition in query order: moto skips those without counting them
toward ``Limit`` or the page size, so the results, ``LastEvaluatedKey`` included, are the
same. Sorting, the key condition, paging, filters and projections remain moto's own.
"""

from __future__ import annotations

import inspect
from typing import Any

from fixloop.local.patches.internals import Replacement, require_class

_TABLE = "moto.dynamodb.models.table"
_PARAMETERS = ("hash_key", "index_name", "range_comparison", "range_objs", "scan_index_forward")


def replacements() -> list[Replacement]:
    table = require_class(_TABLE, "Table", "query", "all_items")
    original = table.query
    signature = inspect.signature(original)
    for name in (*_PARAMETERS, "range_key_conditions", "filter_kwargs"):
        if name not in signature.parameters:
            raise RuntimeError(
                f"moto internals changed: {_TABLE}.Table.query takes no {name!r} "
                "(fixloop.local.patches targets its 5.2.5 signature)"
            )

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        if arguments.get("index_name") or arguments.get("hash_key") is None:
            return original(self, *args, **kwargs)
        return original(_Partition(self, arguments), *args, **kwargs)

    return [Replacement(table, "query", query)]


class _Partition:
    """The table as ``Table.query`` sees it, ``all_items()`` narrowed to what it can return."""

    def __init__(self, table: Any, arguments: dict[str, Any]) -> None:
        self._table = table
        self._arguments = arguments

    def all_items(self) -> list[Any]:
        stored = self._table.items.get(self._arguments["hash_key"])
        if stored is None:
            return []
        if not self._table.range_key_attr:
            return [stored]
        items = sorted(stored.values(), key=lambda item: item.range_key)
        comparison = self._arguments.get("range_comparison")
        if not comparison or self._arguments.get("filter_kwargs"):
            return items
        forward = self._arguments.get("scan_index_forward") is not False
        in_order = items if forward else items[::-1]
        first = next((i for i, item in enumerate(in_order) if self._matches(item)), len(items))
        return items[first:] if forward else items[: len(items) - first]

    def _matches(self, item: Any) -> bool:
        """Table.query's own sort key test for a table (not an index) query."""
        comparison = self._arguments["range_comparison"]
        values = self._arguments.get("range_objs") or []
        conditions = self._arguments.get("range_key_conditions")
        name = conditions[-1][0] if conditions else None
        if name and item.attrs.get(name):
            return bool(item.attrs[name].compare(comparison, values))
        return bool(item.range_key.compare(comparison, values))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)
