"""Root Query and Mutation, merged from one class per entity, and the Schema built from them."""

from strawberry.tools import merge_types

from .archive import ArchiveMutation
from .assignment_rule import AssignmentRuleMutation, AssignmentRuleQuery
from .comment import CommentMutation
from .competitor import CompetitorMutation, CompetitorQuery
from .contact import ContactMutation
from .contract import ContractMutation, ContractQuery
from .custom_field import CustomFieldMutation, CustomFieldQuery
from .customer import CustomerMutation, CustomerQuery
from .feed import FeedQuery, FeedSubscription
from .followup import FollowUpMutation, FollowUpQuery
from .history import HistoryQuery
from .interaction import InteractionMutation
from .invoice import InvoiceMutation, InvoiceQuery
from .knowledge_article import KnowledgeArticleMutation, KnowledgeArticleQuery
from .lead import LeadMutation, LeadQuery
from .lost_reason import LostReasonMutation, LostReasonQuery
from .meeting import MeetingMutation, MeetingQuery, MeetingSubscription
from .node import NodeQuery
from .notifications import NotificationMutation, NotificationQuery
from .opportunity import OpportunityMutation, OpportunityQuery
from .payment import PaymentMutation, PaymentQuery
from .pipeline import PipelineMutation, PipelineQuery
from .policy import PolicyMutation, PolicyQuery
from .presence import PresenceMutation, PresenceSubscription
from .product import ProductMutation, ProductQuery
from .project import ProjectMutation, ProjectQuery
from .quote import QuoteMutation, QuoteQuery
from .receivable import ReceivableQuery
from .sla import SlaMutation, SlaQuery
from .task import TaskMutation, TaskQuery
from .ticket import TicketMutation, TicketQuery
from .timesheet import TimesheetMutation, TimesheetQuery
from .trusted_document import TrustedDocumentMutation, TrustedDocumentQuery
from .users import UserMutation, UserQuery
from .workflow_rule import WorkflowRuleMutation, WorkflowRuleQuery

Query = merge_types(
    "Query", (PipelineQuery, CustomFieldQuery, LostReasonQuery, CompetitorQuery,
              NodeQuery, CustomerQuery, LeadQuery, OpportunityQuery, PolicyQuery, HistoryQuery, FeedQuery,
              MeetingQuery, ProductQuery, QuoteQuery, ContractQuery, InvoiceQuery, PaymentQuery, ReceivableQuery,
              ProjectQuery, TaskQuery, TimesheetQuery, UserQuery, NotificationQuery, TrustedDocumentQuery,
              WorkflowRuleQuery, AssignmentRuleQuery, FollowUpQuery, SlaQuery, KnowledgeArticleQuery, TicketQuery)
)
Mutation = merge_types(
    "Mutation", (PipelineMutation, CustomFieldMutation, LostReasonMutation, CompetitorMutation,
                 CustomerMutation, ContactMutation, InteractionMutation, LeadMutation, OpportunityMutation,
                 PolicyMutation, CommentMutation, MeetingMutation, ProductMutation, QuoteMutation, ContractMutation,
                 InvoiceMutation, PaymentMutation, ProjectMutation, TaskMutation, TimesheetMutation,
                 UserMutation, TrustedDocumentMutation, PresenceMutation, NotificationMutation, ArchiveMutation,
                 WorkflowRuleMutation, AssignmentRuleMutation, FollowUpMutation, SlaMutation, KnowledgeArticleMutation,
                 TicketMutation)
)

Subscription = merge_types("Subscription", (FeedSubscription, MeetingSubscription, PresenceSubscription))

__all__ = ["Mutation", "Query", "Subscription"]
