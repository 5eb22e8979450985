"""The OR-Tools backends the optimiser can run on (kept apart so the CLI names them without
importing OR-Tools). See the README for the measurements behind the default."""

BACKENDS = ("scip", "highs", "sat")
DEFAULT_BACKEND = "scip"
