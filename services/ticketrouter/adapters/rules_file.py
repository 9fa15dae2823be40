"""Routing policies as YAML text: the rules file, and drafts sent over gRPC or the CLI."""

from __future__ import annotations

from pathlib import Path

import yaml

from ticketrouter.domain.policy import Policy
from ticketrouter.domain.policy_document import InvalidPolicy, RuleProblem, parse_policy

MAX_POLICY_BYTES = 1024 * 1024


def parse_policy_text(text: str, version: int = 0) -> Policy:
    """Raises InvalidPolicy naming the rule, the field and the reason of each problem."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise InvalidPolicy([RuleProblem("-", "-", "larger than 1 MiB")])
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidPolicy([RuleProblem("-", "-", f"not valid YAML: {err}")]) from None
    except RecursionError:
        # The YAML composer recurses once per nesting level; a few hundred `[`
        # would otherwise escape as an unexpected error.
        raise InvalidPolicy([RuleProblem("-", "-", "not valid YAML: nested too deeply")]) from None
    return parse_policy(document, version)


def load_policy(path: Path) -> Policy:
    return parse_policy_text(path.read_text(encoding="utf-8"))
