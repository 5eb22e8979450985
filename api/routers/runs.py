"""Brokering runs and the morning run over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api import metrics
from api.deps import EngineDep, json_response, read_json_body
from api.errors import found
from api.openapi import READ, WRITE, model_body, problem_responses
from api.security import ReadAccess, SettingsDep, WriteAccess
from core.settings import Settings
from models.inventory import (
    BrokeringRunOut,
    BrokeringRunRequest,
    InboxFeed,
    MorningRunRequest,
    parse_feed_header,
)
from models.morning import MorningRunReport
from models.problems import InvalidInput, Problem, problems_from_validation_error
from services.brokering import run_brokering
from services.morning import MorningFeed, morning_run
from storage.runs import get_run

router = APIRouter(tags=["brokering"])

INT64_MAX = 2**63 - 1
RequestT = TypeVar("RequestT", bound=BrokeringRunRequest)


def _policy(request: BrokeringRunRequest, settings: Settings) -> dict[str, Any]:
    return {"time_limit_s": settings.run_time_limit_s, **request.policy_overrides()}


def _validated(model: type[RequestT], body: bytes) -> RequestT:
    try:
        return model.model_validate(read_json_body(body, empty={}))
    except ValidationError as exc:
        raise InvalidInput(problems_from_validation_error(exc)) from None


@router.post(
    "/v1/brokering-runs",
    dependencies=[WriteAccess],
    response_model=BrokeringRunOut,
    status_code=201,
    responses=problem_responses(*WRITE),
    summary="Broker every queued order against a snapshot; reserve what is allocated",
    description="Body (optional): {policy: {...}} as in the solve contract. Runs are serialised: "
    "a run started while another is working waits for it.",
    openapi_extra=model_body(BrokeringRunRequest, required=False),
)
async def post_run(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    options = _validated(BrokeringRunRequest, await request.body())
    run = await run_in_threadpool(run_brokering, engine, _policy(options, settings))
    metrics.observe_run(run)
    return json_response(run.model_dump(mode="json"), status_code=201)


@router.get(
    "/v1/brokering-runs/{run_id}",
    dependencies=[ReadAccess],
    response_model=BrokeringRunOut,
    responses=problem_responses(*READ, 404),
    summary="A run, its result in the solve response's shape",
)
def read_run(run_id: Annotated[int, PathParam(ge=1, le=INT64_MAX)], engine: EngineDep) -> Response:
    return json_response(found(get_run, engine, run_id).model_dump(mode="json"))


@router.post(
    "/v1/morning-run",
    dependencies=[WriteAccess],
    response_model=MorningRunReport,
    responses=problem_responses(*WRITE),
    summary="Load the morning feeds, broker the backlog, publish availability",
    description="Body: {feeds: [{file, source?, basis?, as_of?}], policy?}. Files are named "
    "inside the feed inbox (OMNIBROKER_FEED_INBOX), where the ERP, SIM and WMS drop them; a CSV "
    "feed needs source, basis and as_of.",
    openapi_extra=model_body(MorningRunRequest, required=False),
)
async def post_morning_run(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    options = _validated(MorningRunRequest, await request.body())
    feeds = _inbox_feeds(options.feeds, settings)
    report = await run_in_threadpool(morning_run, engine, feeds, _policy(options, settings))
    metrics.observe_morning(report)
    return json_response(report.model_dump(mode="json"))


def _inbox_feeds(items: list[InboxFeed], settings: Settings) -> list[MorningFeed]:
    """Each named file, found inside the inbox; every missing one named at once."""
    problems: list[Problem] = []
    feeds: list[MorningFeed] = []
    for index, item in enumerate(items):
        where = ("feeds", index, "file")
        if settings.feed_inbox is None:
            problems.append(Problem(where, "no feed inbox is configured", "no_inbox"))
            continue
        inbox = settings.feed_inbox.resolve()
        path = (inbox / item.file).resolve()
        # Only files inside the inbox: a name like ../../etc/passwd is refused.
        if inbox not in path.parents or not path.is_file():
            problems.append(Problem(where, f"no feed {item.file!r} in the inbox", "not_found"))
            continue
        header = None
        if path.suffix.lower() == ".csv":
            try:
                header = parse_feed_header(
                    {"source": item.source, "basis": item.basis, "as_of": item.as_of}
                )
            except InvalidInput as error:
                problems.extend(
                    Problem(("feeds", index, *p.loc), p.msg, p.type) for p in error.problems
                )
                continue
        feeds.append(MorningFeed(Path(path), header))
    if problems:
        raise InvalidInput(problems)
    return feeds
