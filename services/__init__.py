"""Work that spans the ledger and the engine: brokering runs and the morning run. Storage reads
and writes the ledger, the engine decides; these put the two together for the API and the CLI."""
