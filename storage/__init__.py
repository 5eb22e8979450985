"""The inventory ledger's state in a database: SQLite by default, PostgreSQL by URL.

``tables`` declares the schema (the migrations in ``migrations/`` create it), ``db`` opens engines
and the ledger's write transaction, and one module per part of the contract holds its repository:
``catalog`` (locations, skus, settings), ``feeds``, ``events``, ``positions``, ``snapshots``,
``orders``, ``runs`` (brokering runs) and ``availability`` (the outbound feed).
"""
