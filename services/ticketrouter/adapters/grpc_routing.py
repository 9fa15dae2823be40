"""RoutingService: thin translation between protobuf and the handlers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc

from ticketrouter.adapters.codec import CONTACT_RECEIVED, decision_to_proto, to_command
from ticketrouter.adapters.context_messages import context_to_proto
from ticketrouter.adapters.database import is_transient
from ticketrouter.adapters.desk_inbox import DeskInbox
from ticketrouter.adapters.grpc_errors import (
    Abort,
    grpc_errors,
    grpc_stream_errors,
    invalid,
    required,
    timestamp,
)
from ticketrouter.adapters.grpc_handlers import BlockingCalls
from ticketrouter.adapters.messages import case_to_proto, csat_to_proto, explanation_to_proto
from ticketrouter.bootstrap import App
from ticketrouter.domain.cases import Case, parse_case_status, parse_handoff_reason
from ticketrouter.domain.channels import parse_channel
from ticketrouter.domain.commands import (
    AbandonContact,
    AcceptOffer,
    AddNote,
    DeclineOffer,
    EndContact,
    ReceiveContact,
    ResolveCase,
    TransferCase,
)
from ticketrouter.domain.decisions import Decision
from ticketrouter.domain.errors import NotFound
from ticketrouter.service_layer.cases import add_note, resolve_case, transfer_case
from ticketrouter.service_layer.intake import handle_events
from ticketrouter.service_layer.ports import UnitOfWork
from ticketrouter.service_layer.queue import accept_offer, decline_offer
from ticketrouter.service_layer.settings import RoutingSettings
from ticketrouter.v1 import routing_pb2, routing_pb2_grpc

MAX_QUEUE_PAGE = 1000
DEFAULT_PAGE = 100
EXPLAIN_HISTORY = 500  # the first entries of a case's route
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


def _receive_one(
    cmd: ReceiveContact, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> Decision | None:
    return handle_events([cmd], uow, now, settings)[0]


# The commands of the contact lifecycle RPCs (a module name: the servicer's methods
# of the same names would shadow them in its body).
ContactOverCommand = type[AbandonContact] | type[EndContact]


def _contact_over(
    cmd: AbandonContact | EndContact, uow: UnitOfWork, now: datetime, settings: RoutingSettings
) -> str:
    """Through the intake, so the event_id is remembered as on Kafka; the contact's
    case id."""
    handle_events([cmd], uow, now, settings)
    case_id = uow.repo.case_of_contact(cmd.contact_id)
    if case_id is None:  # the intake raised NotFound for it already
        raise NotFound("contact", cmd.contact_id)
    return case_id


def _page_limit(limit: int) -> int:
    """0 means the default page; anything else must fit the maximum."""
    if not 0 <= limit <= MAX_QUEUE_PAGE:
        invalid("limit", f"must be 0..{MAX_QUEUE_PAGE}")
    return limit or DEFAULT_PAGE


class RoutingServicer(routing_pb2_grpc.RoutingServiceServicer):
    def __init__(self, app: App, blocking: BlockingCalls) -> None:
        self.app = app
        self.blocking = blocking

    def _case_proto(
        self, case_id: str, with_context: bool = False, short_ok: bool = False
    ) -> routing_pb2.Case:
        """`short_ok`: the id as a person gave it, perhaps only its first characters."""
        view = self.app.reads.case_view(
            case_id, self.app.routing.context, self.app.clock.now(), with_context, short_ok
        )
        message = case_to_proto(view.case, view.handoffs)
        if view.packet is not None:
            message.context.CopyFrom(context_to_proto(view.packet))
        return message

    @grpc_errors
    def SubmitContact(
        self, request: routing_pb2.SubmitContactRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.SubmitContactResponse:
        if not request.HasField("event"):
            invalid("event", "is required")
        command = to_command(request.event, self.app.settings.default_region)
        if not isinstance(command, ReceiveContact):
            invalid("event.type", f"must be {CONTACT_RECEIVED}; publish others to Kafka")
        decision = self.app.bus.execute(_receive_one, command)
        if decision is None:
            with self.app.read_uow() as uow:
                case_id = uow.repo.case_of_contact(command.event_id)
            response = routing_pb2.SubmitContactResponse(duplicate=True)
            if case_id:
                response.case.CopyFrom(self._case_proto(case_id))
            return response
        # The packet the agent needs before saying hello, as the commit left it: the
        # decision itself was made before the transaction's context was read.
        case = self._case_proto(decision.case_id, with_context=True)
        message = decision_to_proto(decision)
        if case.HasField("context"):
            message.context.CopyFrom(case.context)
        return routing_pb2.SubmitContactResponse(decision=message, case=case)

    @grpc_errors
    def GetCase(
        self, request: routing_pb2.GetCaseRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Case:
        if not request.case_id:
            invalid("case_id", "is required")
        return self._case_proto(request.case_id, with_context=True, short_ok=True)

    @grpc_errors
    def ListQueue(
        self, request: routing_pb2.ListQueueRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.ListQueueResponse:
        limit = _page_limit(request.limit)
        channel = parse_channel(request.channel) if request.channel else None
        with self.app.read_uow() as uow:
            cases = uow.repo.queued_cases(limit, channel)
            depth = sum(s.depth for s in uow.repo.queue_stats(self.app.clock.now()).values())
        return routing_pb2.ListQueueResponse(cases=[case_to_proto(c) for c in cases], depth=depth)

    @grpc_errors
    def ListCases(
        self, request: routing_pb2.ListCasesRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.ListCasesResponse:
        limit = _page_limit(request.limit)
        status = parse_case_status(request.status) if request.status else None
        with self.app.read_uow() as uow:
            cases = uow.repo.list_cases(request.owner_agent_id or None, status, limit)
        return routing_pb2.ListCasesResponse(cases=[case_to_proto(c) for c in cases])

    @grpc_errors
    def GetResolutionReport(
        self, request: routing_pb2.ResolutionReportRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.ResolutionReport:
        since = timestamp(request.since, "since") if request.HasField("since") else _BEGINNING
        until = (
            timestamp(request.until, "until") if request.HasField("until") else self.app.clock.now()
        )
        if until <= since:
            invalid("until", "must be after since")
        channel = parse_channel(request.channel) if request.channel else None
        with self.app.read_uow() as uow:
            report = uow.repo.resolution_report(since, until, channel)
        return routing_pb2.ResolutionReport(
            resolved=report.resolved,
            first_contact_resolved=report.first_contact,
            fcr_rate=report.fcr_rate,
            resolved_with_handoff=report.with_handoff,
            handoff_rate=report.handoff_rate,
            handoffs=report.handoffs,
            resolved_case_handoffs=report.handoffs,
            handoffs_per_case=report.handoffs_per_case,
            matured=report.matured,
            first_contact_matured=report.first_contact_matured,
            matured_fcr_rate=report.matured_fcr_rate,
            csat=csat_to_proto(report.csat),
            abandoned=report.abandoned,
        )

    @grpc_errors
    def Transfer(
        self, request: routing_pb2.TransferRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Case:
        if not request.case_id:
            invalid("case_id", "is required")
        if not request.reason:
            invalid("reason", "is required")
        command = TransferCase(
            request.case_id,
            parse_handoff_reason(request.reason),
            request.to_agent_id or None,
            request.note,
        )
        case: Case = self.app.bus.execute(transfer_case, command)
        return self._case_proto(case.case_id)

    @grpc_errors
    def Resolve(
        self, request: routing_pb2.ResolveRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Case:
        if not request.case_id:
            invalid("case_id", "is required")
        if len(request.resolution_code) > 64:
            invalid("resolution_code", "longer than 64 characters")
        case: Case = self.app.bus.execute(
            resolve_case, ResolveCase(request.case_id, request.resolution_code or "resolved")
        )
        return self._case_proto(case.case_id)

    @grpc_errors
    def AbandonContact(
        self, request: routing_pb2.ContactOverRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Case:
        return self._contact_over(request, AbandonContact)

    @grpc_errors
    def EndContact(
        self, request: routing_pb2.ContactOverRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Case:
        return self._contact_over(request, EndContact)

    def _contact_over(
        self,
        request: routing_pb2.ContactOverRequest,
        command: ContactOverCommand,
    ) -> routing_pb2.Case:
        event_id = required(request.event_id, "event_id", max_length=128)
        contact_id = required(request.contact_id, "contact_id", max_length=128)
        occurred_at = (
            timestamp(request.occurred_at, "occurred_at")
            if request.HasField("occurred_at")
            else self.app.clock.now()
        )
        case_id: str = self.app.bus.execute(
            _contact_over, command(event_id, occurred_at, contact_id)
        )
        return self._case_proto(case_id)

    @grpc_errors
    def AcceptOffer(
        self, request: routing_pb2.AcceptOfferRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Case:
        command = AcceptOffer(
            required(request.case_id, "case_id"), required(request.agent_id, "agent_id")
        )
        case: Case = self.app.bus.execute(accept_offer, command)
        return self._case_proto(case.case_id)

    @grpc_errors
    def DeclineOffer(
        self, request: routing_pb2.DeclineOfferRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Case:
        if len(request.reason) > 200:
            invalid("reason", "longer than 200 characters")
        command = DeclineOffer(
            required(request.case_id, "case_id"),
            required(request.agent_id, "agent_id"),
            request.reason,
        )
        case: Case = self.app.bus.execute(decline_offer, command)
        return self._case_proto(case.case_id)

    @grpc_errors
    def ExplainDecision(
        self, request: routing_pb2.ExplainDecisionRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.ExplainDecisionResponse:
        case_id = required(request.case_id, "case_id")
        with self.app.read_uow() as uow:
            case = uow.repo.get_case(case_id)
            if case is None:
                raise NotFound("case", case_id)
            route = [
                f"{entry.at:%Y-%m-%dT%H:%M:%SZ} {entry.kind}: {entry.detail}"
                for entry in uow.repo.timeline(
                    case.customer_id, EXPLAIN_HISTORY, case_id=case_id
                ).entries
            ]
        response = routing_pb2.ExplainDecisionResponse(
            case_id=case.case_id,
            status=case.status.value,
            owner_agent_id=case.owner_agent_id or "",
            history=route,
        )
        if case.last_decision is not None:
            response.explanation.CopyFrom(explanation_to_proto(case.last_decision))
        return response

    @grpc_errors
    def AddNote(
        self, request: routing_pb2.AddNoteRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Case:
        for field, value, limit in (
            ("case_id", request.case_id, 64),
            ("author", request.author, 100),
            ("text", request.text, 2000),
        ):
            if not value.strip():
                invalid(field, "is required")
            if len(value) > limit:
                invalid(field, f"longer than {limit} characters")
        command = AddNote(request.case_id, request.author.strip(), request.text.strip())
        case: Case = self.app.bus.execute(add_note, command)
        return self._case_proto(case.case_id)

    @grpc_stream_errors
    async def WatchAssignments(
        self, request: routing_pb2.WatchAssignmentsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[routing_pb2.Assignment]:
        if request.after_decision_id and not request.agent_id:
            invalid("after_decision_id", "needs agent_id: a desk resumes its own agent's stream")
        # On the event loop: a waiting desk costs no thread; only the case lookup of
        # each assignment goes to the database threads.
        inbox = DeskInbox(asyncio.get_running_loop())
        subscription = self.app.feed.subscribe(
            request.agent_id or None, inbox.deliver, request.after_decision_id
        )
        try:
            # Headers now, not with the first assignment: a desk that has them knows
            # it misses nothing routed from here on.
            await context.send_initial_metadata(())
            if subscription.gap:
                yield routing_pb2.Assignment(gap=True)
            while True:
                decision = await inbox.next()
                try:
                    case = await self.blocking.run_admitted(self._case_proto, decision.case_id)
                except NotFound:
                    continue
                except Exception as err:
                    if not is_transient(err):
                        raise
                    raise Abort(
                        grpc.StatusCode.UNAVAILABLE, "database unavailable, reconnect"
                    ) from None
                yield routing_pb2.Assignment(decision=decision, case=case)
        finally:
            self.app.feed.unsubscribe(subscription.token)
