"""Readers of the deployment files that tests/ops checks: docker-compose.yml, the Dockerfile,
.dockerignore, the Prometheus and Grafana files, and a small PromQL scanner.

No Docker engine runs here, so these files are kept honest by reading them: parsed with
PyYAML and json, and compared with the code (CLI, settings, metrics) they deploy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"
PROMETHEUS = REPO / "ops" / "prometheus" / "prometheus.yml"
ALERTS = REPO / "ops" / "prometheus" / "alerts.yml"
GRAFANA = REPO / "ops" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "maskgate.json"
OPS_README = REPO / "ops" / "README.md"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose() -> dict[str, Any]:
    """docker-compose.yml as Compose sees it before interpolation (``<<`` merges applied)."""
    loaded: dict[str, Any] = load_yaml(COMPOSE)
    return loaded


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


# --- Compose interpolation ------------------------------------------------------------------

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; `$$` is a literal `$`.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolations(text: str) -> list[tuple[str, str | None, str | None]]:
    """(variable, operator, argument) of every ``${...}`` in ``text``."""
    return [(m[1], m[2], m[3]) for m in INTERPOLATION.finditer(text)]


def with_defaults(text: str) -> str:
    """``text`` with each ``${VAR:-default}`` replaced by its default (others left alone)."""

    def replace(match: re.Match[str]) -> str:
        operator = match[2] or ""
        return match[3] if operator.endswith("-") else match[0]

    return INTERPOLATION.sub(replace, text)


def env_example() -> dict[str, str]:
    """The variables .env.example sets (``NAME=value`` lines)."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


# --- Dockerfile -----------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the arguments, continuation lines joined
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined; comments and blank lines dropped.

    (Heredocs are not supported: the Dockerfile does not use them.)"""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment line inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(part for part in pending if part).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def dockerfile_stages(text: str | None = None) -> list[Stage]:
    """The build stages, in order (instructions before the first FROM are dropped: ARGs)."""
    stages: list[Stage] = []
    for instruction in dockerfile_instructions(text or DOCKERFILE.read_text()):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def exec_form(args: str) -> list[str] | None:
    """``["a", "b"]`` (JSON exec form) as a list, else None (shell form)."""
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


# --- .dockerignore --------------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _pattern_matches(pattern: str, path: str) -> bool:
    """Docker's rule: a pattern matches a path or any of its parent folders."""
    pattern = pattern.strip("/")
    parts = path.split("/")
    for end in range(1, len(parts) + 1):
        candidate = "/".join(parts[:end])
        if fnmatchcase(candidate, pattern):
            return True
        if pattern.startswith("**/") and fnmatchcase(parts[end - 1], pattern[3:]):
            return True
    return False


def dockerignored(path: str, patterns: list[str] | None = None) -> bool:
    """Whether ``path`` (relative to the repository) is left out of the build context."""
    ignored = False
    for pattern in patterns if patterns is not None else dockerignore_patterns():
        negate = pattern.startswith("!")
        if _pattern_matches(pattern[1:] if negate else pattern, path):
            ignored = not negate
    return ignored


# --- PromQL ---------------------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_IDENTIFIER = re.compile(r"(?<![\w.:$])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})
# name{matchers} (a selector with matchers) and the matchers in it.
SELECTOR = re.compile(r"(?<![\w:])([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^{}]*)\}")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def series_names(expr: str) -> set[str]:
    """Every metric name that ``expr`` selects (functions, keywords, label names, durations and
    string literals are not metric names)."""
    text = _STRING.sub('""', expr)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match[0].lower() in _KEYWORDS:
            continue  # a function or aggregation, or an operator keyword
        names.add(match[0])
    return names


def selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(metric name, [(label, operator, value)]) of every ``name{...}`` selector."""
    return [(m[1], MATCHER.findall(m[2])) for m in SELECTOR.finditer(expr)]


def grouping_labels(expr: str) -> set[str]:
    """Labels named in ``by (...)``, ``without (...)``, ``on (...)``, ``ignoring (...)``."""
    text = _STRING.sub('""', expr)
    return {label.strip() for m in GROUPING.finditer(text) for label in m[1].split(",")} - {""}


@dataclass(frozen=True)
class Query:
    where: str  # "alerts.yml: MaskgateApiDown" or "dashboard: panel title (A)"
    expr: str


def alert_rules() -> Iterator[dict[str, Any]]:
    for group in load_yaml(ALERTS)["groups"]:
        yield from group["rules"]


def ops_queries() -> list[Query]:
    """Every PromQL expression of the alert rules and of the dashboard's panels."""
    queries = [Query(f"alerts.yml: {rule['alert']}", rule["expr"]) for rule in alert_rules()]
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            where = f"dashboard: {panel['title']} ({target['refId']})"
            queries.append(Query(where, target["expr"]))
    return queries
