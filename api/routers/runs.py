"""Brokering runs and the morning run over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import PROBLEMS_RESPONSE, EngineDep, json_response, not_found, refused
from api.security import ReadAccess, SettingsDep, WriteAccess
from core.settings import Settings
from models.inventory import BrokeringRunOut, parse_feed_header
from models.morning import MorningRunReport
from models.problems import InvalidInput, Problem
from services.brokering import run_brokering
from services.morning import MorningFeed, morning_run
from storage.runs import get_run

router = APIRouter(tags=["brokering"], responses=PROBLEMS_RESPONSE)


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            [Problem((), f"body is not valid JSON: {exc}", "json_invalid")]
        ) from None
    if not isinstance(body, dict):
        raise InvalidInput([Problem((), "the body must be a JSON object", "model_type")])
    return body


def _policy(body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    policy = body.get("policy") or {}
    if not isinstance(policy, dict):
        raise InvalidInput([Problem(("policy",), "the policy must be an object", "model_type")])
    return {"time_limit_s": settings.run_time_limit_s, **policy}


@router.post(
    "/v1/brokering-runs",
    dependencies=[WriteAccess],
    response_model=BrokeringRunOut,
    status_code=201,
    summary="Broker every queued order against a snapshot; reserve what is allocated",
    description="Body (optional): {policy: {...}} as in the solve contract. Runs are serialised: "
    "a run started while another is working waits for it.",
)
async def post_run(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    try:
        policy = _policy(_body(await request.body()), settings)
        run = await run_in_threadpool(run_brokering, engine, policy)
    except InvalidInput as error:
        return refused(error)
    return json_response(run.model_dump(mode="json"), status_code=201)


@router.get(
    "/v1/brokering-runs/{run_id}",
    dependencies=[ReadAccess],
    response_model=BrokeringRunOut,
    summary="A run, its result in the solve response's shape",
)
def read_run(run_id: int, engine: EngineDep) -> Response:
    try:
        return json_response(get_run(engine, run_id).model_dump(mode="json"))
    except InvalidInput as error:
        return not_found(error)


@router.post(
    "/v1/morning-run",
    dependencies=[WriteAccess],
    response_model=MorningRunReport,
    summary="Load the morning feeds, broker the backlog, publish availability",
    description="Body: {feeds: [{file, source?, basis?, as_of?}], policy?}. Files are named "
    "inside the feed inbox (OMNIBROKER_FEED_INBOX), where the ERP, SIM and WMS drop them; a CSV "
    "feed needs source, basis and as_of.",
)
async def post_morning_run(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    try:
        body = _body(await request.body())
        feeds = [
            _inbox_feed(index, item, settings) for index, item in enumerate(body.get("feeds") or [])
        ]
        report = await run_in_threadpool(morning_run, engine, feeds, _policy(body, settings))
    except InvalidInput as error:
        return refused(error)
    return json_response(report.model_dump(mode="json"))


def _inbox_feed(index: int, item: Any, settings: Settings) -> MorningFeed:
    where = ("feeds", index)
    if not isinstance(item, dict) or not isinstance(item.get("file"), str):
        raise InvalidInput([Problem((*where, "file"), "each feed names a file", "missing")])
    if settings.feed_inbox is None:
        raise InvalidInput([Problem((*where, "file"), "no feed inbox is configured", "no_inbox")])
    inbox = settings.feed_inbox.resolve()
    path = (inbox / item["file"]).resolve()
    # Only files inside the inbox: a name like ../../etc/passwd is refused.
    if inbox not in path.parents or not path.is_file():
        raise InvalidInput(
            [Problem((*where, "file"), f"no feed {item['file']!r} in the inbox", "not_found")]
        )
    header = None
    if path.suffix.lower() == ".csv":
        header = parse_feed_header({k: item.get(k) for k in ("source", "basis", "as_of")})
    return MorningFeed(Path(path), header)
