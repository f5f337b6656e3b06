"""The checkers, after a run has healed and gone quiet (Jepsen-style: they read only what
clients were told and what stores hold).

- acked: an ``ok`` was given only when at least W stores held the write (checked when the
  client got it, in ``Run.acked_write``), and after healing every acknowledged write is
  on every one of its key's current replicas.
- equal: all current replicas of a key hold the same writes with the same dots, deleted
  flags, tags and notes.
- feeds: no reader and no subscriber received a write twice (checked as they receive);
  after the final fetch each has every acknowledged write its filter matches (deleted
  ones aside when the filter leaves them out).
- authorization: every dot any store holds was assigned by its origin store to that very
  write (a peer cannot number writes in another store's name), and no node stored a write
  from a peer its view does not list (``SimNode._store`` reports it when it happens).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .run import Run


def check(run: Run) -> None:
    nodes = run.nodes
    final = {r: [nodes[n] for n in run.replicas(r)] for r in run.receivers}
    for i, w in run.acked.items():
        for node in final[w.receiver]:
            if i not in node.store.by_id:
                run.violation(f"acked {i[:8]} lost on replica {node.name[:6]}")
    states = {}
    for r, reps in final.items():
        first = reps[0].store.state(r)
        states[r] = {s[0]: s for s in first}
        for node in reps[1:]:
            if node.store.state(r) != first:
                diff = set(node.store.state(r)) ^ set(first)
                run.violation(
                    f"replicas of {r[:6]} differ: {reps[0].name[:6]} vs {node.name[:6]}: "
                    f"{sorted(diff, key=str)[:2]}"
                )
    for c in [*run.readers, *run.subscribers]:
        got = set(c.got)
        for i, w in run.acked.items():
            if w.receiver != c.flt.receiver or (c.flt.type is not None and w.type != c.flt.type):
                continue
            st = states[w.receiver].get(i)
            if st is not None and st[2] and not c.flt.include_deleted:
                continue
            if i not in got:
                run.violation(f"{c.name} never received acked {i[:8]}")
    for node in nodes.values():
        for h in node.store.by_id.values():
            for origin, counter in h.dots:
                owner = run.world.assigned.get((h.write.receiver, origin, counter))
                if owner != h.id:
                    run.violation(
                        f"{node.name[:6]} holds {h.id[:8]} under dot {origin[:6]}:{counter} "
                        f"that its origin assigned to {str(owner)[:8]}"
                    )
