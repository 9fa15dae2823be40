"""CustomerService: one customer across every channel."""

from __future__ import annotations

import grpc

from ticketrouter.adapters.grpc_errors import grpc_errors, invalid, unimplemented
from ticketrouter.adapters.messages import customer_to_proto
from ticketrouter.adapters.unit_of_work import SqlUnitOfWork
from ticketrouter.bootstrap import App
from ticketrouter.domain.errors import NotFound
from ticketrouter.domain.identity import normalise_identity
from ticketrouter.v1 import customers_pb2, customers_pb2_grpc

DEFAULT_RECENT = 10
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

    def GetTimeline(
        self, request: customers_pb2.GetTimelineRequest, context: grpc.ServicerContext
    ) -> customers_pb2.GetTimelineResponse:
        unimplemented(context, "GetTimeline")

    def LinkIdentity(
        self, request: customers_pb2.LinkIdentityRequest, context: grpc.ServicerContext
    ) -> customers_pb2.Customer:
        unimplemented(context, "LinkIdentity")

    def MergeCustomers(
        self, request: customers_pb2.MergeCustomersRequest, context: grpc.ServicerContext
    ) -> customers_pb2.Customer:
        unimplemented(context, "MergeCustomers")
