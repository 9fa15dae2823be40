"""RoutingConfigService: the policy in force, its versions, validation and dry runs."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import NoReturn

import grpc

from ticketrouter.adapters.codec import to_command
from ticketrouter.adapters.cursors import decode_number_key, encode_key
from ticketrouter.adapters.grpc_errors import grpc_errors, invalid
from ticketrouter.adapters.grpc_pages import fill_page
from ticketrouter.adapters.messages import explanation_to_proto, set_time
from ticketrouter.adapters.policy_store import SqlPolicyVersions
from ticketrouter.adapters.rules_file import (
    MAX_POLICY_BYTES,
    parse_policy_text,
    parse_stored_policy_text,
)
from ticketrouter.bootstrap import App
from ticketrouter.domain.commands import ReceiveContact
from ticketrouter.domain.errors import ConflictingState
from ticketrouter.domain.matching import rank_agents
from ticketrouter.domain.plan import Step
from ticketrouter.domain.policy import Policy, PolicyRule, RuleProblem, activation_for
from ticketrouter.domain.policy_document import InvalidPolicy, policy_size_problem
from ticketrouter.service_layer.policies import (
    PolicyVersion,
    apply_policy,
    contact_facts,
    rollback_policy,
)
from ticketrouter.v1 import config_pb2, config_pb2_grpc, events_pb2

# Policy versions per response at most; `next_page_token` continues.
VERSIONS_PAGE = 50

# Drafts (ValidatePolicy, ApplyPolicy, RollbackPolicy, DryRun with a source) are parsed
# one at a time per process: validating is pure CPU under the GIL, and several admins
# at once would otherwise take as many threads from the routing and health calls
# this process serves. A call waits its turn without using the CPU.
_DRAFTS = threading.Lock()


def parse_draft(source: str) -> Policy:
    with _DRAFTS:
        return parse_policy_text(source)


class RoutingConfigServicer(config_pb2_grpc.RoutingConfigServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app
        self.versions = SqlPolicyVersions(app.database)

    @grpc_errors
    def GetActivePolicy(
        self, request: config_pb2.GetActivePolicyRequest, context: grpc.aio.ServicerContext
    ) -> config_pb2.Policy:
        self.app.reload_policy()  # whichever process applied the newest version
        record = self.versions.latest()
        if record is None:
            _nothing_applied(context)
        return policy_to_proto(record, self._parsed(record))

    @grpc_errors
    def ValidatePolicy(
        self, request: config_pb2.ValidatePolicyRequest, context: grpc.aio.ServicerContext
    ) -> config_pb2.ValidatePolicyResponse:
        self._check_size(request.source, context)
        try:
            policy = parse_draft(request.source)
        except InvalidPolicy as err:
            return config_pb2.ValidatePolicyResponse(
                valid=False, errors=_errors(err.problems), warnings=_errors(err.warnings)
            )
        return config_pb2.ValidatePolicyResponse(
            valid=True, rules=policy.rule_names, warnings=_errors(policy.warnings)
        )

    @grpc_errors
    def ApplyPolicy(
        self, request: config_pb2.ApplyPolicyRequest, context: grpc.aio.ServicerContext
    ) -> config_pb2.Policy:
        self._check_size(request.source, context)
        try:
            applied = apply_policy(
                self.versions,
                parse_draft,
                request.source,
                request.author,
                self.app.clock.now(),
            )
        except InvalidPolicy as err:
            _invalid_source(context, err)
        # Here at once, as validated (not parsed again); the other processes within a second.
        self.app.reload_policy(applied.policy)
        return policy_to_proto(applied.record, applied.policy)

    @grpc_errors
    def ListPolicyVersions(
        self, request: config_pb2.ListPolicyVersionsRequest, context: grpc.aio.ServicerContext
    ) -> config_pb2.ListPolicyVersionsResponse:
        if request.limit < 0:
            invalid("limit", "must be 0 (every version) or more")
        before = None
        if request.page_token:
            before = decode_number_key(request.page_token, "policy-versions")
        # Versions are read a page at a time: each may carry a large source and diff.
        size = min(request.limit or VERSIONS_PAGE, VERSIONS_PAGE)
        history = self.versions.history(before, size + 1)
        page, more = fill_page(history, _version_to_proto, size)
        token = encode_key("policy-versions", str(page[-1].version)) if more else ""
        return config_pb2.ListPolicyVersionsResponse(versions=page, next_page_token=token)

    @grpc_errors
    def RollbackPolicy(
        self, request: config_pb2.RollbackPolicyRequest, context: grpc.aio.ServicerContext
    ) -> config_pb2.Policy:
        try:
            applied = rollback_policy(
                self.versions,
                parse_draft,
                request.version,
                request.author,
                self.app.clock.now(),
            )
        except InvalidPolicy as err:
            # An old version that no longer validates (the rules grew stricter since).
            raise ConflictingState(f"version {request.version}: {err}") from None
        self.app.reload_policy(applied.policy)
        return policy_to_proto(applied.record, applied.policy)

    @grpc_errors
    def DryRun(
        self, request: config_pb2.DryRunRequest, context: grpc.aio.ServicerContext
    ) -> config_pb2.DryRunResponse:
        if not request.HasField("event"):
            invalid("event", "required: the contact.received event to evaluate")
        command = to_command(request.event, self.app.settings.default_region)
        if not isinstance(command, ReceiveContact):
            invalid("event.type", "a dry run evaluates contact.received events")
        policy = self._draft_or_active(request.source, context)
        now = self.app.clock.now()
        # A read-only unit of work, never committed: nothing is created or reserved.
        with self.app.read_uow() as uow:
            facts = contact_facts(
                uow, command, policy.needs_customer, self.app.routing.context, now
            )
            plan, checks = policy.explain(facts)
            candidates = uow.repo.available_agents(command.channel)
            ranking = rank_agents(
                plan.requirements,
                command.channel,
                candidates,
                plan.rule,
                policy_version=policy.version,
            )
        response = config_pb2.DryRunResponse(
            explanation=explanation_to_proto(ranking.explanation),
            priority=plan.priority,
            strategy=plan.strategy.value,
            prefer_relationship=plan.prefer_relationship,
            steps=[_step(step) for step in plan.steps],
            evaluations=[
                config_pb2.RuleEvaluation(rule=c.rule, matched=c.matched, error=c.error)
                for c in checks
            ],
            policy_version=policy.version,
            customer_known=not facts.is_new_customer,
        )
        rule = policy.rule(plan.rule)
        if rule is not None:
            activation = activation_for(facts)
            for computed in rule.computed_authority:
                _need, why = computed.need(activation)
                if why:
                    response.authority_fallbacks[computed.name] = why
        return response

    def _draft_or_active(self, source: str, context: grpc.aio.ServicerContext) -> Policy:
        if source:
            self._check_size(source, context)
            try:
                return parse_draft(source)
            except InvalidPolicy as err:
                _invalid_source(context, err)
        self.app.reload_policy()
        record = self.versions.latest()
        if record is None:
            _nothing_applied(context)
        return self._parsed(record)

    def _parsed(self, record: PolicyVersion) -> Policy:
        """The policy of a stored version; the one in force is parsed already."""
        current = self.app.routing.policy
        if isinstance(current, Policy) and current.version == record.version:
            return current
        return parse_stored_policy_text(record.source).with_version(record.version)

    def _check_size(self, source: str, context: grpc.aio.ServicerContext) -> None:
        """Before anything parses it: validating is the costly part of these calls."""
        size = len(source.encode("utf-8", errors="surrogatepass"))
        if size > MAX_POLICY_BYTES:
            invalid("source", policy_size_problem(size))


def _invalid_source(context: grpc.aio.ServicerContext, err: InvalidPolicy) -> NoReturn:
    invalid("source", str(err))


def _nothing_applied(context: grpc.aio.ServicerContext) -> NoReturn:
    raise ConflictingState("no routing policy applied yet")


def _version_to_proto(record: PolicyVersion) -> config_pb2.Policy:
    return policy_to_proto(record)


def policy_to_proto(record: PolicyVersion, policy: Policy | None = None) -> config_pb2.Policy:
    message = config_pb2.Policy(
        version=record.version,
        source=record.source,
        author=record.author,
        diff=record.diff,
        note=record.note,
    )
    set_time(message.created_at, record.created_at)
    if policy is not None:
        message.skills.extend(policy.skills)
        message.needs_customer = policy.needs_customer
        message.rules.extend(_rule(rule) for rule in policy.rules)
    return message


def _rule(rule: PolicyRule) -> config_pb2.PolicyRule:
    message = config_pb2.PolicyRule(
        name=rule.name,
        when=rule.condition.source if rule.condition is not None else "",
        skills=[
            events_pb2.SkillRequirement(skill=skill, min_proficiency=level)
            for skill, level in rule.skills
        ],
        computed_authority={c.name: c.expression.source for c in rule.computed_authority},
        language=rule.language or rule.language_rule.value,
        teams=sorted(rule.teams),
        priority=rule.priority,
        strategy=rule.strategy.value,
        prefer_relationship=rule.prefer_relationship,
        steps=[_step(step) for step in rule.steps],
        description=rule.description,
    )
    for need in rule.authority:
        if need.must_be_true:
            message.authority.add(name=need.name, must_be_true=True)
        else:
            message.authority.add(name=need.name, at_least=need.at_least or 0.0)
    return message


def _step(step: Step) -> config_pb2.PolicyStep:
    return config_pb2.PolicyStep(
        after_seconds=step.after_seconds,
        proficiency_delta=step.proficiency_delta,
        allow_teams=sorted(step.extra_teams),
        drop_language=step.drop_language,
    )


def _errors(problems: Iterable[RuleProblem]) -> list[config_pb2.PolicyError]:
    return [config_pb2.PolicyError(rule=p.rule, field=p.field, reason=p.reason) for p in problems]
