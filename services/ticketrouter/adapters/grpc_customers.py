"""CustomerService: one customer across every channel."""

from __future__ import annotations

import grpc

from ticketrouter.adapters.cursors import decode_cursor, encode_cursor
from ticketrouter.adapters.grpc_errors import grpc_errors, invalid, unimplemented
from ticketrouter.adapters.messages import customer_to_proto, timeline_item_to_proto
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.bootstrap import App
from ticketrouter.domain.channels import parse_channel
from ticketrouter.domain.errors import NotFound, parse_choice
from ticketrouter.domain.identity import normalise_identity
from ticketrouter.domain.timeline import EntryKind
from ticketrouter.v1 import customers_pb2, customers_pb2_grpc

DEFAULT_RECENT = 10
DEFAULT_PAGE = 50
MAX_PAGE = 500
MAX_RECENT = 100


class CustomerServicer(customers_pb2_grpc.CustomerServiceServicer):
    def __init__(self, app: App) -> None:
        self.app = app

    def _customer(
        self, uow: SqlUnitOfWork, customer_id: str, recent: int
    ) -> customers_pb2.Customer:
        customer = uow.repo.get_customer(customer_id)
        if customer is None:
            raise NotFound("customer", customer_id)
        return customer_to_proto(
            customer,
            uow.repo.recent_contacts(customer_id, recent),
            uow.repo.open_case_ids(customer_id),
        )

    @grpc_errors
    def GetCustomer(
        self, request: customers_pb2.GetCustomerRequest, context: grpc.ServicerContext
    ) -> customers_pb2.Customer:
        if not request.customer_id:
            invalid(context, "customer_id", "is required")
        if not 0 <= request.recent_contacts <= MAX_RECENT:
            invalid(context, "recent_contacts", f"must be 0..{MAX_RECENT}")
        with self.app.read_uow() as uow:
            return self._customer(
                uow, request.customer_id, request.recent_contacts or DEFAULT_RECENT
            )

    @grpc_errors
    def LookupCustomer(
        self, request: customers_pb2.LookupCustomerRequest, context: grpc.ServicerContext
    ) -> customers_pb2.Customer:
        if not request.HasField("identity"):
            invalid(context, "identity", "is required")
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
            return self._customer(uow, owner, DEFAULT_RECENT)

    @grpc_errors
    def GetTimeline(
        self, request: customers_pb2.GetTimelineRequest, context: grpc.ServicerContext
    ) -> customers_pb2.GetTimelineResponse:
        if not request.customer_id:
            invalid(context, "customer_id", "is required")
        if not 0 <= request.page_size <= MAX_PAGE:
            invalid(context, "page_size", f"must be 0..{MAX_PAGE}")
        kinds = frozenset(parse_choice(EntryKind, k, "kinds", "kind") for k in request.kinds)
        channel = parse_channel(request.channel).value if request.channel else None
        after = decode_cursor(request.page_token) if request.page_token else None
        with self.app.read_uow() as uow:
            if uow.repo.get_customer(request.customer_id) is None:
                raise NotFound("customer", request.customer_id)
            page = uow.repo.timeline(
                request.customer_id, request.page_size or DEFAULT_PAGE, after, channel, kinds
            )
        response = customers_pb2.GetTimelineResponse(
            next_page_token=encode_cursor(page.next_cursor) if page.next_cursor else ""
        )
        response.items.extend(timeline_item_to_proto(entry) for entry in page.entries)
        return response

    def LinkIdentity(
        self, request: customers_pb2.LinkIdentityRequest, context: grpc.ServicerContext
    ) -> customers_pb2.Customer:
        unimplemented(context, "LinkIdentity")

    def MergeCustomers(
        self, request: customers_pb2.MergeCustomersRequest, context: grpc.ServicerContext
    ) -> customers_pb2.Customer:
        unimplemented(context, "MergeCustomers")
