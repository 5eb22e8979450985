"""Wire schemas and domain types: what crosses Omnibroker's edges, validated once."""
