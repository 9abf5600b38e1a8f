"""Speed: moto's update expression validators rebuild their dispatch table for every node.

An UpdateItem runs ten traversers (``moto.dynamodb.parsing.validators``) over a copy of the
expression's tree. ``DepthFirstTraverser.traverse_node_recursively``
(``moto.dynamodb.parsing.ast_nodes``) asks ``nodes_to_be_processed()`` at every node, which
builds a tuple from a fresh ``_processing_map()`` dict of bound methods, and ``process()``
builds that dict again for each node it processes: about a fifth of the time fixloop's
handlers spent in moto. Every traverser of moto 5.2.5 maps the same node classes to the same
methods of its own class, whatever the instance, so each class's map is read once, as node
classes and the functions behind its bound methods, and ``process`` calls the function on
the instance. The order of the map (moto relies on it: the first class that matches wins),
the traversal and every processor are moto's own. A class whose map holds anything but
methods of its own class keeps moto's behaviour.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fixloop.local.patches.internals import Replacement, require_class

_AST = "moto.dynamodb.parsing.ast_nodes"

_Table = tuple[tuple[type, ...], tuple[tuple[type, Callable[[Any, Any], Any]], ...]]


def replacements() -> list[Replacement]:
    traverser = require_class(
        _AST,
        "DepthFirstTraverser",
        "_processing_map",
        "nodes_to_be_processed",
        "process",
        "traverse_node_recursively",
    )
    original_nodes = traverser.nodes_to_be_processed
    original_process = traverser.process
    tables: dict[type, _Table | None] = {}
    lock = threading.Lock()

    def table(self: Any) -> _Table | None:
        cls = type(self)
        try:
            return tables[cls]
        except KeyError:
            pass
        found = _table_of(self)
        with lock:
            tables[cls] = found
        return found

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        found = table(self)
        if found is None:
            return tuple(original_nodes(self))
        return found[0]

    def process(self: Any, node: Any) -> Any:
        found = table(self)
        if found is None:
            return original_process(self, node)
        for node_class, function in found[1]:
            if isinstance(node, node_class):
                return function(self, node)
        return None

    return [
        Replacement(traverser, "nodes_to_be_processed", nodes_to_be_processed),
        Replacement(traverser, "process", process),
    ]


def _table_of(traverser: Any) -> _Table | None:
    """The node classes of the traverser's map and, for each, the function of its class
    that its bound method calls; None when an entry is something else."""
    cls = type(traverser)
    entries: list[tuple[type, Callable[[Any, Any], Any]]] = []
    for node_class, processor in traverser._processing_map().items():
        function = getattr(processor, "__func__", None)
        if getattr(processor, "__self__", None) is not traverser or function is None:
            return None
        declared = getattr(cls, function.__name__, None)
        if declared is None or declared is not function:
            return None
        entries.append((node_class, declared))
    return tuple(node_class for node_class, _ in entries), tuple(entries)
