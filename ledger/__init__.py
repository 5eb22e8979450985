"""The availability ledger's decisions, apart from the solver and from the database.

``rules`` says how each event and full feed changes a position (safety stock, available to
promise, the contract's limits); ``snapshot`` turns positions into one versioned set of arrays;
``availability`` computes the outbound feed for the web shop from a snapshot; ``brokering_run``
turns the order queue and a snapshot into one solve request and, at commit, cuts the answer back
to what the stock then covers. Pure functions over plain values and numpy arrays: :mod:`storage`
reads and writes, these decide, and :mod:`engine` (the solver) never sees the ledger.
"""
