"""Speed: moto parses an UpdateItem's expression twice and validates it node by node slowly.

``moto.dynamodb.parsing.expressions.UpdateExpressionParser.make`` tokenizes and parses the
expression string in the handler (to list its placeholders) and again in the backend, for
every request. The tree it returns is only read afterwards: the handler lists its clauses,
and ``UpdateExpressionValidator`` (``moto.dynamodb.parsing.validators``) works on a deep copy.
So the tree of an expression string is kept (:data:`PARSED_KEPT` strings) and handed out
again; a syntax error is raised each time, as moto raises it.

The validator then runs ten traversers over its copy. ``DepthFirstTraverser``
(``moto.dynamodb.parsing.ast_nodes``) asks ``nodes_to_be_processed()`` at every node, which
builds a tuple from a fresh ``_processing_map()`` dict of bound methods, ``process()`` builds
that dict again for each node it processes, and every test is an ``isinstance`` against the
``ABCMeta`` node classes. Every traverser of moto 5.2.5 maps the same node classes to the
same methods of its own class, whatever the instance, so each class's map is read once (its
node classes, and the function behind each bound method, called on the instance), and
whether a traverser processes a node, or a value is a node at all, is decided once per pair
of classes. The traversal (children first, in order, the ``pre_processing_of_child`` hook,
the processed node put in its parent's place), the order of the map (the first class that
matches wins) and every processor are moto's own. A class whose map holds anything but
methods of its own class keeps moto's behaviour. Two of them (``ActionCountValidator``,
``OverlappingPathsValidator``) call ``Node.find_clauses`` at every clause node, which walks
the subtree testing each child against the node classes with ``isinstance``: the same walk
now decides once per class whether a child is an ``Expression`` or an
``UpdateExpressionFunction`` (the children it descends into).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from fixloop.local.patches.internals import Replacement, require_class

_AST = "moto.dynamodb.parsing.ast_nodes"
_EXPRESSIONS = "moto.dynamodb.parsing.expressions"

PARSED_KEPT = 1024
"""Distinct update expressions whose tree is kept; an application has a few dozen."""

_Table = tuple[tuple[type, ...], tuple[tuple[type, Callable[[Any, Any], Any]], ...]]


def replacements() -> list[Replacement]:
    parser = require_class(_EXPRESSIONS, "UpdateExpressionParser", "make")
    node = require_class(_AST, "Node", "find_clauses")
    expression = require_class(_AST, "Expression")
    function = require_class(_AST, "UpdateExpressionFunction")
    traverser = require_class(
        _AST,
        "DepthFirstTraverser",
        "_processing_map",
        "nodes_to_be_processed",
        "process",
        "pre_processing_of_child",
        "traverse_node_recursively",
    )
    make = functools.lru_cache(maxsize=PARSED_KEPT)(parser.make)
    return [
        Replacement(parser, "make", classmethod(lambda _cls, text: make(text))),
        Replacement(node, "find_clauses", _find_clauses((expression, function))),
        *_traversal(traverser, node),
    ]


def _find_clauses(descended: tuple[type, ...]) -> Callable[[Any, Any], list[Any]]:
    """``Node.find_clauses``: the children of a clause type, and those of the children that
    are expressions or functions, depth first; whether a class is one of those is decided
    once."""
    descends: dict[type, bool] = {}

    def find_clauses(self: Any, clause_types: Any) -> list[Any]:
        clauses: list[Any] = []
        for child in self.children or []:
            kind = type(child)
            if kind in clause_types:
                clauses.append(child)
                continue
            known = descends.get(kind)
            if known is None:
                known = descends[kind] = isinstance(child, descended)
            if known:
                clauses.extend(child.find_clauses(clause_types))
        return clauses

    return find_clauses


def _traversal(traverser: Any, node_class: type) -> list[Replacement]:
    original_nodes = traverser.nodes_to_be_processed
    original_process = traverser.process
    known = _Decisions(node_class, traverser.pre_processing_of_child)

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        found = known.table(self)
        if found is None:
            return tuple(original_nodes(self))
        return found[0]

    def process(self: Any, node: Any) -> Any:
        found = known.table(self)
        if found is None:
            return original_process(self, node)
        for processed_class, function in found[1]:
            if isinstance(node, processed_class):
                return function(self, node)
        return None

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        """``DepthFirstTraverser.traverse_node_recursively``, its tests decided per class."""
        if known.is_node(node):
            parent_node = node.parent
            if node.children is not None:
                hook = known.has_hook(self)
                for i, child_node in enumerate(node.children):
                    if hook:
                        self.pre_processing_of_child(node, i)
                    self.traverse_node_recursively(child_node, i)
            if known.handles(self, node):
                node = self.process(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    return [
        Replacement(traverser, "nodes_to_be_processed", nodes_to_be_processed),
        Replacement(traverser, "process", process),
        Replacement(traverser, "traverse_node_recursively", traverse_node_recursively),
    ]


class _Decisions:
    """What the traversal decides per class: a traverser's map, whether it has a hook,
    whether it processes a node class, whether a class is a node class."""

    def __init__(self, node_class: type, no_hook: Any) -> None:
        self._node_class = node_class
        self._no_hook = no_hook
        self._tables: dict[type, _Table | None] = {}
        self._hooks: dict[type, bool] = {}
        self._handled: dict[tuple[type, type], bool] = {}
        self._nodes: dict[type, bool] = {}
        self._lock = threading.Lock()

    def table(self, traverser: Any) -> _Table | None:
        cls = type(traverser)
        try:
            return self._tables[cls]
        except KeyError:
            pass
        found = _table_of(traverser)
        with self._lock:
            self._tables[cls] = found
        return found

    def is_node(self, value: Any) -> bool:
        kind = type(value)
        known = self._nodes.get(kind)
        if known is None:
            known = self._nodes[kind] = isinstance(value, self._node_class)
        return known

    def handles(self, traverser: Any, node: Any) -> bool:
        key = (type(traverser), type(node))
        known = self._handled.get(key)
        if known is None:
            known = isinstance(node, traverser.nodes_to_be_processed())
            if self.table(traverser) is not None:  # else its map may be the instance's own
                self._handled[key] = known
        return known

    def has_hook(self, traverser: Any) -> bool:
        cls = type(traverser)
        known = self._hooks.get(cls)
        if known is None:
            known = self._hooks[cls] = cls.pre_processing_of_child is not self._no_hook
        return known


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
