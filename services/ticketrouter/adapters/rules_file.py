"""Load the topic rules from YAML."""

from __future__ import annotations

from pathlib import Path

import yaml

from ticketrouter.domain.requirements import RuleBook
from ticketrouter.domain.rulebook import InvalidRuleBook, RuleProblem, parse_rulebook


def parse_rules_text(text: str) -> RuleBook:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidRuleBook([RuleProblem("-", "-", f"not valid YAML: {err}")]) from None
    except RecursionError:
        # The YAML composer recurses once per nesting level; a few hundred `[`
        # would otherwise escape as an unexpected error.
        raise InvalidRuleBook(
            [RuleProblem("-", "-", "not valid YAML: nested too deeply")]
        ) from None
    return parse_rulebook(document)


def load_rules(path: Path) -> RuleBook:
    return parse_rules_text(path.read_text(encoding="utf-8"))
