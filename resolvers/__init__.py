"""Root Query and Mutation, merged from one class per entity, and the Schema built from them."""

from strawberry.tools import merge_types

from .comment import CommentMutation, CommentQuery
from .contact import ContactMutation
from .customer import CustomerMutation, CustomerQuery
from .feed import FeedQuery, FeedSubscription
from .interaction import InteractionMutation
from .lead import LeadMutation, LeadQuery
from .meeting import MeetingMutation, MeetingQuery, MeetingSubscription
from .node import NodeQuery
from .opportunity import OpportunityMutation, OpportunityQuery
from .policy import PolicyMutation, PolicyQuery

Query = merge_types(
    "Query", (NodeQuery, CustomerQuery, LeadQuery, OpportunityQuery, PolicyQuery, CommentQuery, FeedQuery,
              MeetingQuery)
)
Mutation = merge_types(
    "Mutation", (CustomerMutation, ContactMutation, InteractionMutation, LeadMutation, OpportunityMutation,
                 PolicyMutation, CommentMutation, MeetingMutation)
)

Subscription = merge_types("Subscription", (FeedSubscription, MeetingSubscription))

__all__ = ["Mutation", "Query", "Subscription"]
