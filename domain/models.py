"""Every model, imported once so metadata (Alembic, tests) sees the whole schema."""

from .automation.followup import FollowUp
from .automation.routing import Assignment, AssignmentFallback, AssignmentRule, UserAvailability
from .automation.rule import WorkflowRule, WorkflowRun
from .automation.sla import SlaClock
from .billing.invoice import Invoice, InvoiceLine
from .billing.payment import Payment, PaymentAllocation
from .billing.payment_plan import Installment
from .collaboration.comment import Comment, CommentEdit
from .collaboration.meeting import ActionItem, Meeting
from .collaboration.sla import Escalation, SlaPolicy
from .contracts.approval import ContractApprovalFlow, ContractApprovalStep
from .contracts.contract import Contract
from .contracts.signature import SignatureRequest
from .crm.contact import Contact
from .crm.customer import Customer
from .crm.interaction import Interaction
from .crm.lead import Lead
from .delivery.budget import Expense
from .delivery.calendar import OrgCalendar
from .delivery.change_request import ChangeRequest
from .delivery.progress import ProgressReport
from .delivery.project import Project, ProjectMember, ProjectTemplate
from .delivery.task import Task, TaskDependency
from .delivery.timesheet import TimeEntry, Timesheet
from .knowledge.article import KnowledgeArticle, KnowledgeArticleVersion, KnowledgeVote
from .pipeline.competitor import Competitor
from .pipeline.custom_field import CustomFieldDefinition
from .pipeline.lost_reason import LostReason
from .pipeline.opportunity import Opportunity, OpportunityStageChange
from .pipeline.stage import PipelineStage, SalesPipeline
from .sales.product import PriceBook, PriceBookEntry, Product
from .sales.quote import DiscountThreshold, Quote, QuoteLine
from .service.queue import TicketQueue
from .service.ticket import Ticket, TicketMessage
from .shared.base import Base
from .shared.idempotency import IdempotencyRecord
from .shared.notification import Notification
from .shared.numbering import DocumentSequence
from .shared.outbox import OutboxEvent, OutboxState
from .tenancy.org import Org, Team
from .tenancy.sharing import RecordShare
from .tenancy.trusted_document import TrustedDocument
from .tenancy.user import User

__all__ = [
    "ChangeRequest", "Expense", "ProgressReport", "Project", "ProjectMember", "ProjectTemplate", "Task",
    "TaskDependency", "TimeEntry", "Timesheet",
    "Contract", "ContractApprovalFlow", "ContractApprovalStep", "DiscountThreshold", "DocumentSequence",
    "Installment", "Invoice", "InvoiceLine", "Payment", "PaymentAllocation", "PriceBook", "PriceBookEntry",
    "Product", "Quote", "QuoteLine", "SignatureRequest",
    "ActionItem", "Escalation", "Meeting", "SlaPolicy",
    "FollowUp",
    "KnowledgeArticle", "KnowledgeArticleVersion", "KnowledgeVote",
    "Base", "Comment", "CommentEdit", "Contact", "CustomFieldDefinition", "Customer", "IdempotencyRecord",
    "Interaction", "Lead", "Notification", "Opportunity", "OpportunityStageChange", "Org", "OutboxEvent", "OutboxState",
    "PipelineStage", "RecordShare", "Competitor", "LostReason", "SalesPipeline", "Team", "TrustedDocument", "User",
    "Assignment", "AssignmentFallback", "AssignmentRule", "UserAvailability",
    "WorkflowRule", "WorkflowRun", "SlaClock", "OrgCalendar",
    "Ticket", "TicketMessage", "TicketQueue",
]
