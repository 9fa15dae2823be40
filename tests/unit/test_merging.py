"""The merge plan: who the event belongs to, what merges, what is only reported."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ticketrouter.domain.identity import Identity, IdentityKind
from ticketrouter.domain.merging import IdentityPolicy, plan_resolution

EMAIL = Identity(IdentityKind.EMAIL, "ana@x.com")
PHONE = Identity(IdentityKind.PHONE, "+14155550100")
ACC_1 = Identity(IdentityKind.ACCOUNT, "ACC-1")
ACC_2 = Identity(IdentityKind.ACCOUNT, "ACC-2")
POLICY = IdentityPolicy()


class Holdings:
    """Strong identifiers by customer, counting how often the plan asks."""

    def __init__(self, held: Mapping[str, frozenset[Identity]]) -> None:
        self.held = held
        self.asked = 0

    def __call__(self, ids: Sequence[str]) -> Mapping[str, frozenset[Identity]]:
        self.asked += 1
        return {c: self.held[c] for c in ids if c in self.held}


def test_the_hot_path_of_one_known_customer_asks_for_nothing_more() -> None:
    holdings = Holdings({})
    plan = plan_resolution([EMAIL, PHONE], {EMAIL: "a"}, POLICY, holdings)
    assert (plan.customer_id, plan.merge, plan.link, plan.conflict) == ("a", (), (PHONE,), None)
    assert holdings.asked == 0


def test_owners_merge_into_the_smallest_id() -> None:
    plan = plan_resolution([EMAIL, PHONE], {EMAIL: "b", PHONE: "a"}, POLICY, Holdings({}))
    assert (plan.customer_id, plan.merge, plan.conflict) == ("a", ("b",), None)


def test_two_account_ids_are_reported_and_the_account_owner_gets_the_contact() -> None:
    holdings = Holdings({"a": frozenset({ACC_1}), "b": frozenset({ACC_2})})
    owners = {EMAIL: "a", ACC_2: "b"}
    plan = plan_resolution([EMAIL, ACC_2], owners, POLICY, holdings)
    assert (plan.customer_id, plan.merge, plan.link) == ("b", (), ())
    assert plan.conflict == ("a", "b")


def test_a_new_second_account_id_is_not_linked() -> None:
    holdings = Holdings({"a": frozenset({ACC_1})})
    plan = plan_resolution([EMAIL, ACC_2], {EMAIL: "a"}, POLICY, holdings)
    assert (plan.customer_id, plan.link, plan.conflict) == ("a", (), ("a",))


def test_a_new_customer_with_two_account_ids_keeps_only_what_cannot_conflict() -> None:
    plan = plan_resolution([EMAIL, ACC_1, ACC_2], {}, POLICY, Holdings({}))
    assert (plan.customer_id, plan.link, plan.conflict) == (None, (EMAIL,), ())


def test_shared_kinds_find_their_customer_but_never_pull_another_in() -> None:
    policy = IdentityPolicy(never_merge=frozenset({IdentityKind.PHONE}))
    plan = plan_resolution([EMAIL, PHONE], {EMAIL: "b", PHONE: "a"}, policy, Holdings({}))
    assert (plan.customer_id, plan.merge) == ("b", ())
    alone = plan_resolution([PHONE], {PHONE: "a"}, policy, Holdings({}))
    assert alone.customer_id == "a"
