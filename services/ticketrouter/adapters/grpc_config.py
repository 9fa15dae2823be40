"""RoutingConfigService: the rules in force, and validation of a draft."""

from __future__ import annotations

import grpc

from ticketrouter.adapters.grpc_errors import grpc_errors, unimplemented
from ticketrouter.adapters.messages import requirements_to_proto
from ticketrouter.adapters.rules_file import parse_rules_text
from ticketrouter.bootstrap import App
from ticketrouter.domain.requirements import Requirements, RuleBook
from ticketrouter.domain.rulebook import InvalidRuleBook
from ticketrouter.v1 import config_pb2, config_pb2_grpc

MAX_POLICY_BYTES = 1024 * 1024


class RoutingConfigServicer(config_pb2_grpc.RoutingConfigServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app

    @grpc_errors
    def GetActivePolicy(
        self, request: config_pb2.GetActivePolicyRequest, context: grpc.ServicerContext
    ) -> config_pb2.Policy:
        rules = self.app.routing.policy
        if not isinstance(rules, RuleBook):
            unimplemented(context, "GetActivePolicy for this policy engine")
        policy = config_pb2.Policy(
            version=rules.version,
            source=self.app.settings.rules_file.read_text(encoding="utf-8"),
        )
        for rule in (*rules.rules, rules.default):
            policy.rules.add(
                name=rule.name,
                topic=rule.topic,
                priority=rule.priority,
                requirements=requirements_to_proto(Requirements(rule.skills, rule.authority)),
                authority_from_attribute=dict(rule.authority_from_attribute),
            )
        return policy

    @grpc_errors
    def ValidatePolicy(
        self, request: config_pb2.ValidatePolicyRequest, context: grpc.ServicerContext
    ) -> config_pb2.ValidatePolicyResponse:
        if len(request.source.encode()) > MAX_POLICY_BYTES:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "source: larger than 1 MiB")
        try:
            parse_rules_text(request.source)
        except InvalidRuleBook as err:
            return config_pb2.ValidatePolicyResponse(
                valid=False,
                errors=[
                    config_pb2.PolicyError(rule=p.rule, field=p.field, reason=p.reason)
                    for p in err.problems
                ],
            )
        return config_pb2.ValidatePolicyResponse(valid=True)

    def ApplyPolicy(
        self, request: config_pb2.ApplyPolicyRequest, context: grpc.ServicerContext
    ) -> config_pb2.Policy:
        unimplemented(context, "ApplyPolicy")

    def ListPolicyVersions(
        self, request: config_pb2.ListPolicyVersionsRequest, context: grpc.ServicerContext
    ) -> config_pb2.ListPolicyVersionsResponse:
        unimplemented(context, "ListPolicyVersions")

    def RollbackPolicy(
        self, request: config_pb2.RollbackPolicyRequest, context: grpc.ServicerContext
    ) -> config_pb2.Policy:
        unimplemented(context, "RollbackPolicy")

    def DryRun(
        self, request: config_pb2.DryRunRequest, context: grpc.ServicerContext
    ) -> config_pb2.DryRunResponse:
        unimplemented(context, "DryRun")
