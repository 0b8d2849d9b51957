"""Start-up checks that every rank runs the same model: the same parameter names, shapes and
dtypes (DataParallel checks them when it wraps a module), and, for a traced step, the same
graph (tracer/record.py `fingerprint`). Without them a mismatch shows up later as a hang or
a size error inside MPI; with them every rank raises one error naming the first difference
and which ranks hold which value. Comparisons travel as pickled lists (mpi4py allgather) on
the process group's communicator; they run once, not per step."""

from __future__ import annotations

import hashlib
from typing import Any

from unified.distributed.process_group import _WORLD


def _allgather(value: Any) -> list[Any]:
    if _WORLD.comm is None:  # local backend or not initialized: one rank
        return [value]
    return _WORLD.comm.allgather(value)


def _digest(items: list) -> str:
    return hashlib.sha256(repr(items).encode()).hexdigest()


def _ranks(values: list, value: Any) -> str:
    ranks = [r for r, v in enumerate(values) if v == value]
    return f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {ranks}"


def check_same(what: str, items: list[tuple[str, Any]]) -> None:
    """Raise on every rank unless every rank passed the same `items` ([(name, value)], in
    order). The error names `what`, the first differing position and each rank's value."""
    digests = _allgather(_digest(items))
    if len(set(digests)) == 1:
        return
    lists = _allgather(items)
    longest = max(len(x) for x in lists)
    for i in range(longest):
        at = [x[i] if i < len(x) else None for x in lists]
        if len({repr(a) for a in at}) > 1:
            groups = []
            for value in dict.fromkeys(repr(a) for a in at):
                members = [r for r, a in enumerate(at) if repr(a) == value]
                shown = "nothing (the list ended)" if at[members[0]] is None else value
                groups.append(f"{_ranks(at, at[members[0]])}: {shown}")
            raise RuntimeError(f"{what} differ between ranks at position {i}: "
                               + "; ".join(groups)
                               + " (every rank must build the same model and step)")
    raise RuntimeError(f"{what} differ between ranks (digests {digests})")


def check_parameters(module: Any) -> None:
    """The module's parameter and buffer names, shapes and dtypes agree on every rank."""
    items = [(f"parameter {n}", (tuple(p.shape), str(p.dtype)))
             for n, p in module.named_parameters()]
    items += [(f"buffer {n}", (tuple(b.shape), str(b.dtype)))
              for n, b in module.named_buffers()]
    check_same("DataParallel: the parameters", items)


def graph_items(rec: Any) -> list[tuple[str, Any]]:
    """One (node line, fingerprint item) per recorded node and interface item."""
    from unified.tracer.record import fingerprint

    nodes = rec.graph.nodes
    items = fingerprint(rec)
    out = []
    for i, item in enumerate(items):
        if i < len(nodes):
            node = nodes[i]
            what = node.op.name if node.op else node.kind
            out.append((f"node {node.ref_name()} ({what}, at {node.source})", _digest([item])))
        else:
            out.append((str(item[0]), _digest([item])))
    return out


def check_graph(rec: Any, who: str) -> None:
    """The traced graph `rec` (a tracer Recording, or anything with the fields
    tracer/record.py `fingerprint` reads) is the same on every rank; `who` starts the error."""
    items = graph_items(rec)
    digests = _allgather(_digest([d for _, d in items]))
    if len(set(digests)) == 1:
        return
    lists = _allgather(items)
    for i in range(max(len(x) for x in lists)):
        at = [x[i] if i < len(x) else ("(the graph ended)", None) for x in lists]
        if len({d for _, d in at}) > 1:
            shown = "; ".join(f"rank {r}: {label}" for r, (label, _) in enumerate(at))
            raise RuntimeError(f"{who}: the traced graphs differ between ranks at item {i}: "
                               f"{shown} (every rank must record the same step)")
    raise RuntimeError(f"{who}: the traced graphs differ between ranks")


def check_traced(traced: Any) -> None:
    """The most recent graph of a `unified.trace`d function is the same on every rank (call
    it on every rank after the first call)."""
    check_graph(traced._recording(), f"trace({traced.__name__})")
