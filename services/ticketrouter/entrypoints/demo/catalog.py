"""What customers write about and how each channel sees them: the weights and wording
the traffic draws from."""

from __future__ import annotations

from dataclasses import dataclass

# topic -> (weight, ((subject, text), ...)); "{order}" is filled in per issue.
# fmt: off
TOPICS: dict[str, tuple[int, tuple[tuple[str, str], ...]]] = {
    "billing.refund": (18, (
        ("Charged twice for order {order}", "I was charged twice for order {order}."),
        ("Refund for a damaged item", "The blender from order {order} arrived cracked."),
        ("Still waiting for my refund", "A refund for order {order} was approved weeks ago."),
        ("Cancelled order was charged", "I cancelled order {order} but my card was charged."),
    )),
    "billing.fees": (7, (
        ("Late fee on my account", "There is a late fee on my statement but I paid on time."),
        ("Unexpected service fee", "Why was I charged a service fee this month?"),
    )),
    "billing.invoice": (5, (
        ("Invoice shows the wrong address", "The invoice for order {order} has an old address."),
        ("Need a VAT invoice", "Please send a VAT invoice for order {order}."),
    )),
    "billing.payment": (4, (
        ("Card declined at checkout", "My card keeps getting declined though it works elsewhere."),
    )),
    "orders.tracking": (12, (
        ("Where is my order {order}?", "Tracking for order {order} hasn't moved in five days."),
        ("Parcel marked delivered, not here", "Order {order} says delivered; nothing arrived."),
    )),
    "orders.return": (8, (
        ("Return a jacket that doesn't fit", "How do I return the jacket from order {order}?"),
    )),
    "orders.change": (6, (
        ("Change delivery address", "Can I change the delivery address on order {order}?"),
        ("Missing item in my order", "Order {order} arrived without the charger."),
    )),
    "tech.app": (7, (
        ("App crashes on checkout", "The app closes every time I open my cart."),
    )),
    "tech.login": (6, (
        ("Password reset email never arrives", "I asked for a reset link three times."),
    )),
    "account.security": (7, (
        ("Account locked after failed logins", "My account is locked and I can't sign in."),
        ("Suspicious login from abroad", "I got an alert about a login that wasn't me."),
    )),
    "general.question": (10, (
        ("Store opening hours on Sunday", "Is the Main Street store open on Sundays?"),
        ("Do you price match?", "A competitor sells the same kettle for less."),
    )),
    "general.feedback": (4, (
        ("Thanks to the Main Street team", "The staff were brilliant last Saturday."),
    )),
}


@dataclass(frozen=True, slots=True)
class ChannelHabits:
    weight: int
    primary: str  # the identity this channel always sees
    secondary: str  # one a customer often adds (a caller gives their email): it links the two
    earlier: str  # how a follow-up refers to a contact made here
    named: bool  # the platform knows the customer's name


CHANNELS = {
    "email":  ChannelHabits(24, "email",   "phone",   "email",                   True),
    "chat":   ChannelHabits(26, "chat",    "email",   "chat",                    True),
    "voice":  ChannelHabits(16, "phone",   "email",   "call",                    False),
    "sms":    ChannelHabits(8,  "phone",   "loyalty", "text message",            False),
    "social": ChannelHabits(8,  "social",  "email",   "message on social media", True),
    "web":    ChannelHabits(12, "email",   "phone",   "web form",                True),
    "store":  ChannelHabits(6,  "loyalty", "phone",   "store visit",             False),
}
# fmt: on
