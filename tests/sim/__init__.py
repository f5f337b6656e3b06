"""A deterministic simulator of flocloud replication (FoundationDB/VOPR-style, Jepsen-style
checkers). ``python -m tests.sim --seed 1234 --nodes 7`` replays one run.

Layout: ``world.py`` (clock, event queue, network, streams), ``node.py`` (a supernode: the
real ``WriteQuorum``, ``Subscription``, ``Cursor``, ``Placement``, ``routing`` and the
``MemoryStore`` feed rule and ``replication.lacking``, with small documented versions of
forwarding, catch-up, anti-entropy, hand-off, fetching lacking dots and heartbeats), ``clients.py`` (writers that retry
on the next node, readers following cursors, resuming subscribers), ``run.py`` (faults:
delay, loss, reordering, partitions incl. client links, crashes that lose only what is
not in the store, replaced disks, nodes added and removed, a peer forging dots),
``checks.py`` (the checkers), ``variants.py`` (the old bugs, put back on purpose).
``MemoryStore`` is held to the real ``SqliteStore`` by
``tests/storage/test_feed_model.py``.

The nine findings of issue 10, and how each is covered:

1. Non-replica numbers from scratch: dots make numbers per store, and a node that does
   not accept a key forwards it (``routing.accepts``, shared with ``node/peers.py``). The
   variant ``local-numbers`` (every store numbering ``local max + 1`` under one name) is
   caught: dots held under another write's number, replicas that differ.
2. Catch-up pulls one page: the simulated catch-up pages (``PAGE`` = 8, so runs do page)
   and positions only move over pages fetched. No variant: with anti-entropy on, a lost
   page is repaired, and catch-up alone is not meant to be complete (a first contact
   follows from the top), so no end-state checker can tell; this stays pinned by the
   node's own catch-up code and tests.
3. Stale prepare task: structurally gone; fetching lacking dots keeps no per-key task
   (the sim's does the same). Not simulated (an asyncio cancellation bug, not a rule).
4. Split brain: writers retry on the next node after ``unavailable``; writes with two
   dots occur in most runs and replicas must converge on the union (``equal`` checker);
   ``local-numbers`` is caught. Such a write was delivered twice to a follower until the
   dots merged (E1, seed 1012): a replica lacking a dot the cursor covers now fetches the
   writes held under it first or refuses; variant ``answer-behind`` (answer anyway) is
   caught. A duplicate is excused only when a dot's store left the network holding the
   only copy (``Run.duplicate``; docs/protocol.md §8.2).
5. Live subscriptions dropping lower-numbered arrivals: variant ``skip-lower`` is caught
   (a subscriber never receives acked writes).
6. ``ok`` below the quorum: every ``ok`` is checked to have W stores holding the write
   when the client gets it; variant ``ok-below-w`` is caught at once.
7. Neighbour sets above 64 nodes: the sim runs 3-50 nodes (every node a neighbour), so
   this is part C's placement proof, not the simulator's.
8. Removed supernodes stay authenticated / peers dictate numbers: an evil peer sends
   writes under another store's dots and a removed node keeps talking; the
   authorization checker (every held dot was assigned by its origin to that write; no
   write stored from a non-member) catches variants ``no-dot-check`` and
   ``no-member-check``.
9. Cost at scale: not a simulator property (``bench/`` and part C).

Found by the simulator while it was being built: replicas disagreeing for good on tags
(arrival order) and notes (last applied) -- fixed in ``SqliteStore`` and the model; the
write with two dots delivered twice (E1) -- fixed by fetching lacking dots first. Found
later by the soak (seed 110296): a node whose registry view did not list a member just
added took that member's store for gone and answered a write a second time -- fixed by
counting a store as gone only once views had time to agree (``replication/lacking.py``).

Objects (issue 11; in one seed of four, ``Config.objects``): ``objects.py`` (object
writes as records, a node's object shell on the real fold and Paxos state machines,
mirroring ``node/strict.py``), ``objclients.py`` (merge writers, compare-and-set clients
recording histories, and the checkers: every object's replicas equal the fold of the set
of their writes and hold every acked write; every strict object is one chain and its
history passes the Wing-Gong check of ``linearizability.py``). Variants
``arrival-fold``, ``accept-below-promise``, ``acceptor-forgets``,
``proposer-ignores-accepted``, ``no-epoch-fence`` and ``young-votes`` are caught. Found
while building it: joint majorities tied to the last layout only broke with two quick
registry changes (fixed: joint over the layouts of the hand-over window); a replaced
disk's acceptor forgot what it accepted (O1; fixed: a young store recovers an instance
from the other acceptors before it votes in it, docs §5.6).
"""
