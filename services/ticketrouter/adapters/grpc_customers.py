"""CustomerService: one customer across every channel."""

from __future__ import annotations

import grpc

from ticketrouter.adapters.context_messages import conflict_to_proto, merge_to_proto
from ticketrouter.adapters.cursors import decode_cursor, encode_cursor
from ticketrouter.adapters.grpc_errors import grpc_errors, invalid, required
from ticketrouter.adapters.messages import customer_to_proto, timeline_item_to_proto
from ticketrouter.adapters.short_ids import full_id
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.bootstrap import App
from ticketrouter.domain.channels import parse_channel
from ticketrouter.domain.commands import LinkIdentity, MergeCustomers, UnlinkIdentity
from ticketrouter.domain.errors import InvalidField, NotFound, parse_choice
from ticketrouter.domain.identity import Identity, normalise_identity
from ticketrouter.domain.timeline import EntryKind
from ticketrouter.service_layer.identities import link_identity, merge_customers, unlink_identity
from ticketrouter.v1 import customers_pb2, customers_pb2_grpc

DEFAULT_RECENT = 10
DEFAULT_PAGE = 50
MAX_PAGE = 500
MAX_RECENT = 100
MAX_CONFLICTS = 20
MAX_REASON = 500


class CustomerServicer(customers_pb2_grpc.CustomerServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app

    def _customer(
        self, uow: SqlUnitOfWork, customer_id: str, recent: int = DEFAULT_RECENT
    ) -> customers_pb2.Customer:
        """The customer, following a merged-away id to its survivor."""
        customer = uow.repo.get_customer(customer_id)
        if customer is not None and customer.merged_into is not None:
            customer = uow.repo.get_customer(customer.merged_into)
        if customer is None:
            raise NotFound("customer", customer_id)
        live = customer.customer_id
        message = customer_to_proto(
            customer, uow.repo.recent_contacts(live, recent), uow.repo.open_case_ids(live)
        )
        message.merges.extend(merge_to_proto(m) for m in uow.repo.merges_into(live))
        message.conflicts.extend(
            conflict_to_proto(c) for c in uow.repo.conflicts_of(live, MAX_CONFLICTS)
        )
        return message

    @grpc_errors
    def GetCustomer(
        self, request: customers_pb2.GetCustomerRequest, context: grpc.aio.ServicerContext
    ) -> customers_pb2.Customer:
        if not request.customer_id:
            invalid("customer_id", "is required")
        if not 0 <= request.recent_contacts <= MAX_RECENT:
            invalid("recent_contacts", f"must be 0..{MAX_RECENT}")
        with self.app.read_uow() as uow:
            customer_id = full_id(uow.repo, "customer", request.customer_id, "customer_id")
            return self._customer(uow, customer_id, request.recent_contacts or DEFAULT_RECENT)

    @grpc_errors
    def LookupCustomer(
        self, request: customers_pb2.LookupCustomerRequest, context: grpc.aio.ServicerContext
    ) -> customers_pb2.Customer:
        if not request.HasField("identity"):
            invalid("identity", "is required")
        identity = normalise_identity(
            request.identity.kind,
            request.identity.value,
            self.app.settings.default_region,
            "identity",
        )
        with self.app.read_uow() as uow:
            owner = uow.repo.owners_of([identity]).get(identity)
            if owner is None:
                raise NotFound("customer with identity", str(identity))
            return self._customer(uow, owner)

    @grpc_errors
    def GetTimeline(
        self, request: customers_pb2.GetTimelineRequest, context: grpc.aio.ServicerContext
    ) -> customers_pb2.GetTimelineResponse:
        if not request.customer_id:
            invalid("customer_id", "is required")
        if not 0 <= request.page_size <= MAX_PAGE:
            invalid("page_size", f"must be 0..{MAX_PAGE}")
        kinds = frozenset(parse_choice(EntryKind, k, "kinds", "kind") for k in request.kinds)
        channel = parse_channel(request.channel).value if request.channel else None
        after = decode_cursor(request.page_token) if request.page_token else None
        with self.app.read_uow() as uow:
            customer = uow.repo.get_customer(request.customer_id)
            if customer is None:
                raise NotFound("customer", request.customer_id)
            # A merged-away id reads its survivor's timeline, which holds its history.
            page = uow.repo.timeline(
                customer.merged_into or customer.customer_id,
                request.page_size or DEFAULT_PAGE,
                after,
                channel,
                kinds,
            )
        response = customers_pb2.GetTimelineResponse(
            next_page_token=encode_cursor(page.next_cursor) if page.next_cursor else ""
        )
        response.items.extend(timeline_item_to_proto(entry) for entry in page.entries)
        return response

    @grpc_errors
    def LinkIdentity(
        self, request: customers_pb2.LinkIdentityRequest, context: grpc.aio.ServicerContext
    ) -> customers_pb2.Customer:
        command = LinkIdentity(
            required(request.customer_id, "customer_id"),
            self._identity(request),
            _actor(request.actor),
            request.reason[:MAX_REASON],
        )
        return self._after(self.app.bus.execute(link_identity, command).customer_id)

    @grpc_errors
    def UnlinkIdentity(
        self, request: customers_pb2.UnlinkIdentityRequest, context: grpc.aio.ServicerContext
    ) -> customers_pb2.Customer:
        command = UnlinkIdentity(
            required(request.customer_id, "customer_id"),
            self._identity(request),
            _actor(request.actor),
            request.reason[:MAX_REASON],
        )
        return self._after(self.app.bus.execute(unlink_identity, command).customer_id)

    @grpc_errors
    def MergeCustomers(
        self, request: customers_pb2.MergeCustomersRequest, context: grpc.aio.ServicerContext
    ) -> customers_pb2.Customer:
        command = MergeCustomers(
            required(request.surviving_customer_id, "surviving_customer_id"),
            required(request.merged_customer_id, "merged_customer_id"),
            _actor(request.actor),
            request.reason[:MAX_REASON],
        )
        return self._after(self.app.bus.execute(merge_customers, command).customer_id)

    def _identity(
        self, request: customers_pb2.LinkIdentityRequest | customers_pb2.UnlinkIdentityRequest
    ) -> Identity:
        if not request.HasField("identity"):
            raise InvalidField("identity", "is required")
        return normalise_identity(
            request.identity.kind,
            request.identity.value,
            self.app.settings.default_region,
            "identity",
        )

    def _after(self, customer_id: str) -> customers_pb2.Customer:
        with self.app.read_uow() as uow:
            return self._customer(uow, customer_id)


def _actor(actor: str) -> str:
    """Manual changes are audited, so someone must own them."""
    if not actor.strip():
        raise InvalidField("actor", "is required: who is making this change")
    if len(actor) > 128:
        raise InvalidField("actor", "longer than 128 characters")
    return actor.strip()
