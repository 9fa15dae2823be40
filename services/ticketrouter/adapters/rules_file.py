"""Routing policies as YAML text: the rules file, and drafts sent over gRPC or the CLI."""

from __future__ import annotations

from pathlib import Path

import yaml

from ticketrouter.domain.policy import Policy
from ticketrouter.domain.policy_document import (
    MAX_POLICY_BYTES,
    InvalidPolicy,
    RuleProblem,
    check_policy_size,
    parse_policy,
)

__all__ = ["MAX_POLICY_BYTES", "load_policy", "parse_policy_text", "parse_stored_policy_text"]

# libyaml's parser when PyYAML was built with it (a tenth of the pure-Python one's time).
_LOADER: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)


def parse_policy_text(text: str, version: int = 0) -> Policy:
    """A policy text arriving from outside (a draft to validate, apply or dry-run, the
    rules file, the CLI): refused over MAX_POLICY_BYTES before it is parsed. Raises
    InvalidPolicy naming the rule, the field and the reason of each problem."""
    check_policy_size(text)
    return parse_stored_policy_text(text, version)


def parse_stored_policy_text(text: str, version: int = 0) -> Policy:
    """A version the store holds already: it passed the size limit in force when it was
    applied, and a lower limit since must not stop a router from loading it."""
    try:
        document = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        raise InvalidPolicy([RuleProblem("-", "-", f"not valid YAML: {err}")]) from None
    except RecursionError:
        # The pure-Python YAML composer recurses once per nesting level; a few hundred
        # `[` would otherwise escape as an unexpected error.
        raise InvalidPolicy([RuleProblem("-", "-", "not valid YAML: nested too deeply")]) from None
    return parse_policy(document, version)


def load_policy(path: Path) -> Policy:
    return parse_policy_text(path.read_text(encoding="utf-8"))
