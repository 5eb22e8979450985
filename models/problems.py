"""Bad input, reported whole: every problem with the path of the field at fault.

The shape of a problem is the one FastAPI uses for its own 422 bodies (``loc``, ``msg``, ``type``),
so an OMS integrator parses one format whether pydantic or a cross-reference check found the fault.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

Path = tuple[str | int, ...]

# Ids and skus may hold any character but NUL (PostgreSQL cannot store it in text).
NO_NUL_PATTERN = r"^[^\x00]*$"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: where (``loc``), what (``msg``) and a stable code (``type``)."""

    loc: Path
    msg: str
    type: str = "value_error"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}

    def __str__(self) -> str:
        where = ".".join(str(part) for part in self.loc) or "(body)"
        return f"{where}: {self.msg}"


class InvalidInput(ValueError):
    """Raised when an input is refused; carries every problem found, none applied."""

    def __init__(self, problems: Sequence[Problem], what: str = "request") -> None:
        self.problems: list[Problem] = list(problems)
        self.what = what
        super().__init__(self.describe())

    def describe(self) -> str:
        head = f"{self.what} refused: {len(self.problems)} problem(s)"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def problems_from_validation_error(error: ValidationError, prefix: Path = ()) -> list[Problem]:
    """Pydantic's errors as problems, with the input's paths (``orders.3.lines.0.quantity``)."""
    return problems_from_errors(error.errors(include_url=False), prefix)


def problems_from_errors(items: Iterable[Mapping[str, Any]], prefix: Path = ()) -> list[Problem]:
    """Pydantic's (or FastAPI's) error dicts as problems, each message said plainly."""
    problems = []
    for item in items:
        msg = str(item["msg"])
        if item["type"] == "missing":
            msg = "field required"
        elif (item.get("ctx") or {}).get("pattern") == NO_NUL_PATTERN:
            msg = "must not contain a NUL character"
        problems.append(Problem(prefix + tuple(item["loc"]), msg, str(item["type"])))
    return problems


def unique_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Each (place, kind) once: a rule both passes check (a missing ship_to) is said once."""
    seen: set[tuple[Path, str]] = set()
    unique = []
    for problem in problems:
        key = (problem.loc, problem.type)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in the order their fields appear, so a long list reads top to bottom."""

    def key(p: Problem) -> tuple[tuple[int, str], ...]:
        return tuple((0, f"{part:012d}") if isinstance(part, int) else (1, part) for part in p.loc)

    return sorted(problems, key=key)


class ProblemOut(BaseModel):
    """A problem on the wire."""

    loc: list[str | int]
    msg: str
    type: str


class Problems(BaseModel):
    """The body of every refusal (401, 403, 404, 408, 413, 422): every problem found, at once."""

    detail: list[ProblemOut]


def describe_row(where: Path) -> str:
    """A row's place as an integrator reads it: ``line 17`` or ``events[16]``."""
    kind, number = where[0], where[1]
    return f"line {number}" if kind == "line" else f"{kind}[{number}]"


def row_problems(
    error: ValidationError, where: Path, union_tags: Collection[str] = ()
) -> list[Problem]:
    """A row's validation errors as problems at the row's place, each message led by it.

    A discriminated union (the events' ``kind``) puts its tag in the path (``sale``): name the
    tags in ``union_tags`` to drop them, the row is the useful part for an integrator."""
    problems = []
    for problem in problems_from_validation_error(error, prefix=where):
        loc = tuple(
            part
            for i, part in enumerate(problem.loc)
            if not (i == len(where) and part in union_tags)
        )
        field = ".".join(str(part) for part in loc[len(where) :])
        msg = f"{describe_row(where)}: {field + ': ' if field else ''}{problem.msg}"
        problems.append(Problem(loc, msg, problem.type))
    return problems
