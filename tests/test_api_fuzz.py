"""Schema fuzzing of every operation of the live app (schemathesis over ASGI), with valid API keys,
a bounded number of examples per operation and a fixed seed: no input reaches a server error, and
every answer's status code, content type and body are the ones the OpenAPI document declares.

Both valid bodies (built from the declared schemas) and invalid ones are sent; the ledger holds a
small catalog, so valid ids are known and writes really apply.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from benchmarks.resources import fresh_postgres
from core.settings import get_settings
from storage import session
from tests.ledger_fixtures import BACKENDS, CATALOG, POSTGRES_URL

KEY = "fuzz-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# The document needs no database: operations are known at collection, one test each.
APP = create_app()
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}


@pytest.fixture(scope="module", params=BACKENDS)
def live_ledger(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """The app's settings and a fresh ledger (SQLite, or PostgreSQL in CI) with a small catalog."""
    with pytest.MonkeyPatch.context() as env:
        if request.param == "postgres":
            assert POSTGRES_URL is not None
            fresh_postgres(POSTGRES_URL).dispose()
            env.setenv("OMNIBROKER_DATABASE_URL", POSTGRES_URL)
        else:
            env.delenv("OMNIBROKER_DATABASE_URL", raising=False)
            db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
            env.setenv("OMNIBROKER_DATABASE_PATH", str(db))
        env.setenv("OMNIBROKER_API_KEYS", KEY)
        env.setenv("OMNIBROKER_RUN_TIME_LIMIT_S", "2")
        get_settings.cache_clear()
        session.dispose_all()
        with TestClient(APP) as client:  # runs the lifespan: the settings check
            assert client.put("/v1/catalog", content=orjson.dumps(CATALOG), headers=AUTH).is_success
        yield
        get_settings.cache_clear()
        session.dispose_all()


def test_every_operation_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 15


@pytest.mark.usefixtures("live_ledger")
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_operation_answers_as_documented(label: str, mode: GenerationMode) -> None:
    @given(case=OPERATIONS[label].as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,  # a fixed seed: the same cases every run
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the case as found
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    try:
        call()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE
        pytest.skip("no parameter or body to make invalid")
