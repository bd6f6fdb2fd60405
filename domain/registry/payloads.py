"""What every outward event carries, key by key, with the schema field whose read permission governs
each key. Deny by default: a payload key no declaration names is never delivered. Strings only (no
model, no area): the event filter and the leak tests read it through ``domain.registry``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..shared.payload import camel

# --- event payloads -------------------------------------------------------------------------------

Governs = tuple[str, ...]
"""The ``Type.field`` values whose read permission a payload value needs (all of them); empty: the
value identifies or classifies the event only (ids, versions, levels) and goes to everyone who
receives the event."""


@dataclass(frozen=True)
class Nested:
    """A dict (or list of dicts) cut key by key as ``shape``; delivered at all only when ``governs``
    is readable."""

    shape: str
    governs: Governs = ()


@dataclass(frozen=True)
class Changes:
    """``{key: [before, after]}`` or ``{key: after}``: each key is a field of ``shape``, cut alone."""

    shape: str


@dataclass(frozen=True)
class Paths:
    """``{path: value}``: values of the event's record and of the records its id fields name, by field path
    (``amount``, ``customer.tier``; ``path_steps``), each cut alone by every field its path reads (a workflow
    rule's message values)."""


@dataclass(frozen=True)
class Keyed:
    """A dict whose keys are fields of their own (custom fields): delivered when ``governs`` is readable, and
    of it each key ``k`` only when ``<governs>.<k>`` is too (``Opportunity.customFields.budgetCode``: the
    policy rows an admin's ``visibleToRoles`` writes)."""

    governs: str


Key = Governs | Nested | Changes | Keyed | Paths
ID: Governs = ()


def _shape(type_name: str, keys: str, **mapped: Key | str) -> dict[str, Key]:
    """Payload keys of a record: each listed key governed by the ``type_name`` field of its name
    (``ownerId`` → ``owner``); ``mapped`` names the others (a string is one ``Type.field``)."""
    out: dict[str, Key] = {"id": ID, "version": ID}
    for key in keys.split():
        out[key] = (f"{type_name}.{camel(key)}",)
    for key, value in mapped.items():
        out[key] = (value,) if isinstance(value, str) else value
    return out


SHAPES: dict[str, dict[str, Key]] = {
    "Customer": _shape("Customer", "name tags industry tier lifecycleStage ownerId creditLimit currency",
                       customFields=Keyed("Customer.customFields")),
    "Contact": _shape("Contact", "customerId name title phone email isDecisionMaker",
                      customFields=Keyed("Contact.customFields")),
    "Lead": _shape("Lead", "name company title email phone source status notes ownerId disqualifyReason region "
                           "industry", customFields=Keyed("Lead.customFields")),
    "Opportunity": _shape("Opportunity", "customerId ownerId name stage amount currency expectedCloseDate "
                                         "probability nextStep nextStepAt lostReason milestones "
                                         "projectManagerId",
                          customFields=Keyed("Opportunity.customFields"), pipelineId="Opportunity.pipeline",
                          lostReasonId="Opportunity.lostReasonOption", competitorIds="Opportunity.competitors"),
    "Interaction": _shape("Interaction", "customerId contactId opportunityId kind occurredAt summary"),
    "Product": _shape("Product", "code name unit defaultPrice currency taxRate active"),
    "PriceBook": _shape("PriceBook", "name currency isDefault", prices="PriceBook.entries"),
    "Quote": _shape("Quote", "number revision opportunityId customerId ownerId title status currency subtotal "
                             "discountTotal taxTotal total maxDiscountPercent needsApproval validUntil notes"),
    "Contract": _shape("Contract", "number customerId opportunityId quoteId ownerId title status amount currency "
                                   "startDate endDate taxRate terms parties",
                       documentSha256="Contract.document", document="Contract.document"),
    "ApprovalStep": _shape("ApprovalStep", "position role status comment"),
    "Invoice": _shape("Invoice", "kind number customerId contractId status currency issueDate dueDate total "
                                 "amountPaid amountCredited outstanding daysOverdue",
                      # The invoice's owner is its contract's: whoever may see the contract link may see who.
                      ownerId="Invoice.contract"),
    "Payment": _shape("Payment", "customerId payerName amount currency allocated unallocated receivedOn method "
                                 "reference notes"),
    "Project": _shape("Project", "number name status health customerId opportunityId managerId budget currency "
                                 "startDate percentComplete forecastFinish deadline description"),
    "Task": _shape("Task", "projectId name description status percentComplete assigneeId dueDate forecastFinish "
                           "durationDays estimateHours startNoEarlier"),
    "ChangeRequest": _shape("ChangeRequest", "title reason status budgetDelta scheduleDeltaDays needsSalesApproval "
                                             "requestedById"),
    "ActionItem": _shape("ActionItem", "title ownerId dueAt status", recordId="ActionItem.recordId",
                         meetingId=ID, recordType=ID),
    "FollowUp": _shape("FollowUp", "note dueAt status assigneeId", recordId="FollowUp.record", recordType=ID),
    "Meeting": _shape("Meeting", "title", attendeeIds="Meeting.attendees", actionItems="Meeting.actionItems"),
    "Comment": _shape("Comment", "authorId body mentions", recordType=ID, recordId="Comment.recordId",
                      parentId="Comment.parentId",
                      edited="Comment.editedAt", deleted="Comment.deletedAt"),
    "Signer": _shape("Contract", "", name="Contract.signatures", party="Contract.signatures",
                     requestId="Contract.signatures"),
    "TaskDependency": _shape("Task", "", predecessor="Project.tasks", successor="Project.tasks", kind="Project.tasks",
                             lagDays="Project.tasks"),
    "ProjectTemplate": _shape("ProjectTemplate", "name isDefault", tasks="ProjectTemplate.taskCount"),
    "WorkflowRule": _shape("WorkflowRule", "name objectType trigger enabled position authorId builtIn"),
    "User": _shape("User", "name email roles territory capacity teamId"),
    "Pipeline": _shape("Pipeline", "key name isDefault"),
    "PipelineStage": _shape("PipelineStage", "key label order defaultProbability isWon isLost requiredFields"),
    "LostReason": _shape("LostReason", "key label"),
    "Competitor": _shape("Competitor", "name website"),
    "KnowledgeArticle": _shape("KnowledgeArticle", "title category tags language status authorId helpfulCount "
                                                   "notHelpfulCount", sourceTicketId="KnowledgeArticle.sourceTicketId"),
    "Ticket": _shape("Ticket", "customerId contactId contractId projectId opportunityId channel category priority "
                               "status subject description queueId assigneeId resolution"),
    "TicketMessage": _shape("TicketMessage", "body internal authorId createdAt"),
}


@dataclass(frozen=True)
class Topic:
    shape: str | None
    """The record shape the payload starts from; None: the shape of the event's record type."""
    keys: dict[str, Key] = field(default_factory=dict)
    """Keys this topic adds to (or redeclares in) its shape."""


def _topic(shape: str | None, **keys: Key | str) -> Topic:
    return Topic(shape, {k: (v,) if isinstance(v, str) else v for k, v in keys.items()})


OWN = "*."
"""A governing field of the event's own record, whatever its type (``*.slaStatus``: ``Opportunity.slaStatus`` on
an opportunity's event); ``payload_keys`` names the type."""
_SLA = "*.slaStatus"
"""An SLA clock's figures (its target, the hours counted, whether it was met) are the record's ``slaStatus``."""
_CONTRACT_PLAN = "Contract.paymentPlan"
_COSTS = "Project.costs"

TOPICS: dict[str, Topic] = {
    "customer.created": _topic("Customer"),
    "customer.updated": _topic("Customer", changes=Changes("Customer")),
    "contact.created": _topic("Contact"),
    "contact.updated": _topic("Contact", changes=Changes("Contact")),
    "lead.created": _topic("Lead"),
    "lead.updated": _topic("Lead", changes=Changes("Lead")),
    "lead.converted": _topic("Lead", customerId="Lead.convertedCustomer", contactId="Lead.convertedCustomer",
                             opportunityId="Lead.convertedOpportunity"),
    "interaction.logged": _topic("Interaction"),
    "opportunity.created": _topic("Opportunity"),
    "opportunity.updated": _topic("Opportunity", changes=Changes("Opportunity"), quoteId=ID),
    "opportunity.stage_moved": _topic("Opportunity", **{"from": "Opportunity.stage", "to": "Opportunity.stage"}),
    # configuration (admin): pipelines, their stages, lost reasons, competitors; custom field definitions are
    # the policy's business (an Org event: only those who manage the policy receive it)
    "pipeline.created": _topic("Pipeline"),
    "pipeline.stage_defined": _topic("Pipeline", stage=Nested("PipelineStage", ("Pipeline.stages",))),
    "pipeline.stage_removed": _topic("Pipeline", stageKey="Pipeline.stages", movedTo="Pipeline.stages",
                                     dealsMoved="Pipeline.stages"),
    "lost_reason.defined": _topic("LostReason"),
    "competitor.created": _topic("Competitor"),
    "custom_field.defined": _topic(None, objectType=ID, key=ID, label=ID, type=ID, options=ID, required=ID),
    "product.created": _topic("Product"),
    "product.updated": _topic("Product", changes=Changes("Product")),
    "price_book.created": _topic("PriceBook"),
    "discount_threshold.set": _topic(None, role=ID, maxDiscountPercent=ID),
    "quote.created": _topic("Quote"),
    "quote.updated": _topic("Quote"),
    "quote.submitted": _topic("Quote"),
    "quote.approved": _topic("Quote", comment="Quote.decisionComment"),
    "quote.rejected": _topic("Quote", comment="Quote.decisionComment"),
    "quote.sent": _topic("Quote"),
    "quote.accepted": _topic("Quote"),
    "quote.declined": _topic("Quote", reason="Quote.decisionComment"),
    "quote.revised": _topic("Quote", previousId="Quote.previousRevision"),
    "contract.created": _topic("Contract"),
    "contract.updated": _topic("Contract", changes=Changes("Contract")),
    "contract.amendment_created": _topic("Contract", amendsId="Contract.amends", reason="Contract.amendmentReason"),
    "contract.submitted": _topic("Contract", step=Nested("ApprovalStep", ("Contract.approvalSteps",))),
    "contract.step_approved": _topic("Contract", step=Nested("ApprovalStep", ("Contract.approvalSteps",)),
                                     next=Nested("ApprovalStep", ("Contract.approvalSteps",))),
    "contract.approved": _topic("Contract"),
    "contract.rejected": _topic("Contract", step=Nested("ApprovalStep", ("Contract.approvalSteps",)),
                                reason="Contract.approvalSteps"),
    "contract.signature_requested": _topic("Contract", signer=Nested("Signer", ("Contract.signatures",))),
    "contract.signed": _topic("Contract", signer=Nested("Signer", ("Contract.signatures",))),
    "contract.activated": _topic("Contract"),
    "contract.superseded": _topic("Contract", amendedById=ID),
    "contract.terminated": _topic("Contract", reason="Contract.terminationReason",
                                  effectiveOn="Contract.terminatedOn", cancelledInstallments=_CONTRACT_PLAN),
    "contract.payment_plan_set": _topic("Contract", installments=_CONTRACT_PLAN),
    "contract.milestone_reached": _topic("Contract", milestone=_CONTRACT_PLAN, reachedOn=_CONTRACT_PLAN,
                                         installments=_CONTRACT_PLAN, projectId="Contract.opportunity"),
    "contract_flow.set": _topic(None, steps=ID),
    "invoice.drafted": _topic("Invoice"),
    "invoice.issued": _topic("Invoice"),
    "invoice.voided": _topic("Invoice", reason="Invoice.voidReason"),
    "invoice.credited": _topic("Invoice", amount="Invoice.amountCredited", creditNoteId="Invoice.amountCredited"),
    "invoice.payment_allocated": _topic("Invoice", amount="Invoice.allocations", paymentId="Invoice.allocations",
                                        allocationId="Invoice.allocations"),
    "invoice.allocation_reversed": _topic("Invoice", amount="Invoice.allocations", paymentId="Invoice.allocations",
                                          allocationId="Invoice.allocations", reason="Invoice.allocations"),
    "invoice.overdue": _topic("Invoice", title="Invoice.number"),
    "credit_note.issued": _topic("Invoice", creditedInvoiceId="Invoice.creditedInvoice", reason="Invoice.notes"),
    "payment.recorded": _topic("Payment"),
    "payment.allocated": _topic("Payment", allocations="Payment.allocations"),
    "payment.allocation_reversed": _topic("Payment", allocationId="Payment.allocations",
                                          reason="Payment.allocations"),
    "payment.matched": _topic("Payment"),
    "project.created": _topic("Project", template="Project.tasks"),
    "project.updated": _topic("Project", changes=ID),  # the names of the changed settings, no values
    "project.progress_reported": _topic("Project", status="Project.progressReports",
                                        reportId="Project.progressReports"),
    "project.schedule_risk": _topic("Project", spi=_COSTS, deadline="Project.deadline"),
    "project.cost_risk": _topic("Project", estimateAtCompletion=_COSTS, budget=(_COSTS, "Project.budget")),
    "project_template.created": _topic("ProjectTemplate"),
    "task.created": _topic("Project", task=Nested("Task", ("Project.tasks",))),
    "task.updated": _topic("Project", task=Nested("Task", ("Project.tasks",)), changes=Changes("Task")),
    "task.delay_risk": _topic("Project", task=Nested("Task", ("Project.tasks",)), daysLate="Task.forecastFinish"),
    "task.dependency_added": _topic("Project", dependency=Nested("TaskDependency", ("Project.tasks",))),
    "task.dependency_removed": _topic("Project", dependency=Nested("TaskDependency", ("Project.tasks",))),
    "time.logged": _topic("Project", task=Nested("Task", ("Project.tasks",)), hours="TimeEntry.hours",
                          date="TimeEntry.date"),
    "timesheet.submitted": _topic("Project", weekStart="Timesheet.weekStart", hours="Timesheet.hours",
                                  userId="Timesheet.user"),
    "timesheet.approved": _topic("Project", weekStart="Timesheet.weekStart", hours="Timesheet.hours",
                                 userId="Timesheet.user", comment="Timesheet.comment"),
    "timesheet.rejected": _topic("Project", weekStart="Timesheet.weekStart", hours="Timesheet.hours",
                                 userId="Timesheet.user", comment="Timesheet.comment"),
    "expense.added": _topic("Project", amount="Project.expenses", category="Project.expenses",
                            description="Project.expenses"),
    "change.requested": _topic("Project", change=Nested("ChangeRequest", ("Project.changeRequests",))),
    "change.manager_approved": _topic("Project", change=Nested("ChangeRequest", ("Project.changeRequests",))),
    "change.approved": _topic("Project", change=Nested("ChangeRequest", ("Project.changeRequests",)),
                              budgetBefore="ChangeRequest.budgetBefore"),
    "change.rejected": _topic("Project", change=Nested("ChangeRequest", ("Project.changeRequests",)),
                              reason="ChangeRequest.decisionComment"),
    "meeting.recorded": _topic("Meeting"),
    "action_item.assigned": _topic("ActionItem"),
    "action_item.updated": _topic("ActionItem", changes=Changes("ActionItem")),
    "action_item.reminder": _topic("ActionItem"),
    "follow_up.scheduled": _topic("FollowUp"),
    "follow_up.rescheduled": _topic("FollowUp"),
    "follow_up.completed": _topic("FollowUp"),
    "follow_up.cancelled": _topic("FollowUp"),
    "follow_up.due": _topic("FollowUp"),
    "follow_up.reassigned": _topic("FollowUp", previousAssigneeId="FollowUp.assignee"),
    # a customer crossing into high intent (domain/automation/intent.py): its score and signals are its intent's
    "intent.high": _topic("Customer", score="Customer.intent", level="Customer.intent", signals="Customer.intent"),
    "comment.added": _topic("Comment"),
    "comment.edited": _topic("Comment"),
    "comment.deleted": _topic("Comment"),
    "sla.policy_set": _topic(None, kind=ID, objectType=ID, targetHours=ID, dueHours=ID, escalateAfterHours=ID,
                             position=ID),
    "sla.policy_deleted": _topic(None, kind=ID, objectType=ID, position=ID),
    # A record's SLA clock (domain/automation/sla): the record's own shape (its name), the policy's kind and target,
    # the hours counted so far; a stopped clock says whether it met its target.
    # Its figures are the record's slaStatus: whoever may not read that gets the move, and the record, only.
    "sla.started": _topic(None, kind=ID, targetHours=_SLA, elapsedHours=_SLA),
    "sla.paused": _topic(None, kind=ID, targetHours=_SLA, elapsedHours=_SLA),
    "sla.resumed": _topic(None, kind=ID, targetHours=_SLA, elapsedHours=_SLA),
    "sla.met": _topic(None, kind=ID, targetHours=_SLA, elapsedHours=_SLA, met=_SLA),
    "sla.stopped": _topic(None, kind=ID, targetHours=_SLA, elapsedHours=_SLA, met=_SLA),
    "sla.breached": _topic(None, kind=ID, targetHours=_SLA, elapsedHours=_SLA, dueAt=_SLA),
    "sla.calendar_set": _topic(None, weekendDays=ID, holidays=ID, dayStartHour=ID, dayEndHour=ID, timeZone=ID),
    # An escalation carries the escalated item (an action item, an invoice, a task) as its own type does;
    # ``title`` repeats the item's title, number or name.
    # On a policy's SLA clock (any record type): the record's own shape, the breach time, target and hours so far.
    "sla.escalated": _topic(None, level=ID, escalatedToId=ID, kind=ID, dueAt=ID, title=ID, targetHours=_SLA,
                            elapsedHours=_SLA),
    "record.shared": _topic(None, userId=ID, teamId=ID),
    "user.cost_rate_set": _topic(None, id=ID, costRate="User.costRate"),
    "user.roles_changed": _topic(None, roles="User.roles"),
    "user.manager_changed": _topic(None, managerId="User.manager"),
    "user.invited": _topic(None),
    "user.updated": _topic(None, changes=Changes("User")),
    "user.deactivated": _topic(None, active="User.active", successorId="User.active"),
    # a leaving user's open records handed to a successor (domain/tenancy/handover.py): the previous
    # holder is governed like the holder
    "customer.reassigned": _topic("Customer", previousOwnerId="Customer.owner"),
    "lead.reassigned": _topic("Lead", previousOwnerId="Lead.owner"),
    # routed by an assignment rule (domain/automation/routing.py): why is the record's assignment
    "lead.assigned": _topic("Lead", previousOwnerId="Lead.owner", rule="Lead.assignment", method="Lead.assignment",
                            reason="Lead.assignment", code="Lead.assignment", assignedAt="Lead.assignment"),
    "lead.response_overdue": _topic("Lead", rule="Lead.assignment", reason="Lead.assignment", code="Lead.assignment"),
    "opportunity.assigned": _topic("Opportunity", previousOwnerId="Opportunity.owner", rule="Opportunity.assignment",
                                   method="Opportunity.assignment", reason="Opportunity.assignment",
                                   code="Opportunity.assignment", assignedAt="Opportunity.assignment"),
    "assignment_rule.changed": _topic(None, name=ID, change=ID, position=ID),
    "user.availability_set": _topic(None, **{"from": ID, "until": ID}),
    "opportunity.reassigned": _topic("Opportunity", previousOwnerId="Opportunity.owner",
                                     previousProjectManagerId="Opportunity.projectManager"),
    "quote.reassigned": _topic("Quote", previousOwnerId="Quote.owner"),
    "contract.reassigned": _topic("Contract", previousOwnerId="Contract.owner"),
    "invoice.reassigned": _topic("Invoice", previousOwnerId="Invoice.contract"),
    "project.reassigned": _topic("Project", previousManagerId="Project.manager", salesOwnerId="Project.salesOwner",
                                 previousSalesOwnerId="Project.salesOwner"),
    "action_item.reassigned": _topic("ActionItem", previousOwnerId="ActionItem.owner"),
    "team.created": _topic(None, name=ID),
    # knowledge base (domain/knowledge): an edit names the fields it changed (the body's text is not repeated)
    "knowledge_article.created": _topic("KnowledgeArticle"),
    "knowledge_article.updated": _topic("KnowledgeArticle", changes=Changes("KnowledgeArticle"), changed=ID),
    "knowledge_article.submitted": _topic("KnowledgeArticle", **{"from": "KnowledgeArticle.status"}),
    "knowledge_article.published": _topic("KnowledgeArticle", **{"from": "KnowledgeArticle.status"}),
    "knowledge_article.archived": _topic("KnowledgeArticle", **{"from": "KnowledgeArticle.status"}),
    "knowledge_article.rated": _topic("KnowledgeArticle"),
    # workflow rules (domain/automation): changes to rules, and the messages rules send about a record
    "workflow_rule.created": _topic("WorkflowRule"),
    "workflow_rule.updated": _topic("WorkflowRule"),
    "workflow_rule.enabled": _topic("WorkflowRule"),
    "workflow_rule.disabled": _topic("WorkflowRule"),
    "workflow_rule.deleted": _topic("WorkflowRule"),
    "workflow.notified": _topic(None, rule=ID, template=ID, values=Paths()),
    "workflow.escalated": _topic(None, rule=ID, template=ID, values=Paths()),
    "workflow.record_updated": _topic(None, rule=ID, changes=Paths()),
    # service desk (domain/service): a reply is the ticket's replies', a note its internal notes'; a hand-off says
    # from which queue to which, and why
    "ticket.created": _topic("Ticket"),
    "ticket.updated": _topic("Ticket", changes=Changes("Ticket")),
    "ticket.replied": _topic("Ticket", message=Nested("TicketMessage", ("Ticket.replies",))),
    "ticket.noted": _topic("Ticket", note=Nested("TicketMessage", ("Ticket.internalNotes",))),
    "ticket.assigned": _topic("Ticket", previousAssigneeId="Ticket.assignee"),
    "ticket.handed_off": _topic("Ticket", fromQueueId="Ticket.queue", toQueueId="Ticket.queue",
                                department="Ticket.queue", reason="Ticket.queue",
                                note=Nested("TicketMessage", ("Ticket.internalNotes",))),
    "ticket.resolved": _topic("Ticket"),
    "ticket.reopened": _topic("Ticket", reason="Ticket.status"),
    # Only those who manage the policy receive it at all (resolvers/events.py), and they may read it whole.
    "policy.changed": _topic(None, role=ID, resource=ID, action=ID, effect=ID, type=ID, scope=ID),
}


ARCHIVE_EVENTS = ("archived", "restored")


def record_topic(type_name: str, what: str) -> str:
    """A topic about a record type in the topics' spelling: ``customer.archived``, ``price_book.restored``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).lower() + "." + what


def archive_topics(type_names: Iterable[str]) -> dict[str, Topic]:
    """``<type>.archived`` and ``<type>.restored`` of each archivable type (the registry names them): the record's
    id and version, and when it was archived (null once restored)."""
    return {record_topic(name, what): _topic(name, archivedAt=f"{name}.archivedAt")
            for name in type_names for what in ARCHIVE_EVENTS}


# --- ids in payloads ------------------------------------------------------------------------------

REFERENCES: dict[str, str] = {
    # people and teams
    "ownerId": "User", "authorId": "User", "assigneeId": "User", "managerId": "User", "projectManagerId": "User",
    "requestedById": "User", "userId": "User", "escalatedToId": "User", "successorId": "User",
    "previousOwnerId": "User", "previousProjectManagerId": "User", "previousManagerId": "User",
    "salesOwnerId": "User", "previousSalesOwnerId": "User", "mentions": "User", "attendeeIds": "User",
    "previousAssigneeId": "User",
    "teamId": "Team",
    # records
    "customerId": "Customer", "contactId": "Contact", "opportunityId": "Opportunity", "quoteId": "Quote",
    "previousId": "Quote", "contractId": "Contract", "amendsId": "Contract", "amendedById": "Contract",
    "invoiceId": "Invoice", "creditNoteId": "Invoice", "creditedInvoiceId": "Invoice", "paymentId": "Payment",
    "allocationId": "PaymentAllocation", "projectId": "Project", "reportId": "ProgressReport",
    "meetingId": "Meeting", "parentId": "Comment", "requestId": "Signature",
    # configuration
    "pipelineId": "Pipeline", "lostReasonId": "LostReason", "competitorIds": "Competitor",
    # service desk
    "ticketId": "Ticket", "queueId": "TicketQueue", "fromQueueId": "TicketQueue", "toQueueId": "TicketQueue",
    "sourceTicketId": "Ticket",
}
"""Payload keys (in any shape, topic, change or item) whose integer values, or lists of them, are ids of one
record type: delivered as that type's global ids, as every typed field of the API gives them. Besides these,
``id`` is the id of the shape's own record (SHAPE_NODES) and ``recordId`` that of the record the payload's
``recordType`` names (a comment's or an action item's record), else of the event's own record."""

RECORD_ID = "recordId"

SHAPE_NODES: dict[str, str | None] = {"Signer": "Signature", "TaskDependency": None, "PipelineStage": None}
"""The node type of a shape's ``id`` where it is not the shape's name (None: the shape carries no id of a node)."""

ITEMS: dict[str, str] = {"installments": "Installment", "allocations": "PaymentAllocation"}
"""Keys whose value is a list of plain dicts (not cut key by key) each with the ``id`` of a record of this type;
their other keys follow REFERENCES."""


def id_type(shape: str, key: str) -> str | None:
    """The record type whose ids a payload key of ``shape`` carries; None for a key that is no id
    (``recordId``: see REFERENCES)."""
    if key == "id":
        return SHAPE_NODES.get(shape, shape)
    return REFERENCES.get(key)


_REFERENCES_BY_FIELD = {camel(key): type_name for key, type_name in REFERENCES.items()}


def change_id_type(key: str) -> str | None:
    """The record type whose ids a change (``changes: {key: [before, after]}``) of ``key`` carries, the key
    spelled as the model spells it (``owner_id``) or as the API does (``ownerId``)."""
    return REFERENCES.get(key) or _REFERENCES_BY_FIELD.get(camel(key))


def payload_shape(topic: str, record_type: str) -> str:
    """The shape an event's payload starts from: its topic's, or its record type's."""
    declared = TOPICS.get(topic)
    return (declared.shape if declared else None) or record_type


def payload_keys(topic: str, record_type: str) -> dict[str, Key]:
    """Every key an event of ``topic`` about a ``record_type`` may carry; empty for an undeclared topic. A key a
    topic governs by a field of the event's own record (``OWN``) is governed by that field of ``record_type``."""
    declared = TOPICS.get(topic)
    if declared is None:
        return {}
    shape = SHAPES.get(declared.shape or record_type, {})
    return {**shape, **{k: _own(v, record_type) for k, v in declared.keys.items()}}


def _own(key: Key, record_type: str) -> Key:
    if isinstance(key, tuple):
        return tuple(f"{record_type}.{g[len(OWN):]}" if g.startswith(OWN) else g for g in key)
    return key


def shape_key(shape: str, key: str) -> Key | None:
    """The declaration of a field of ``shape`` named in any spelling (``owner_id``, ``ownerId``, ``owner``)."""
    keys = SHAPES.get(shape, {})
    if key in keys:
        return keys[key]
    wanted = camel(key)
    for name, declared in keys.items():
        if camel(name) == wanted:
            return declared
    return None


def _key_name(shape: str, key: str) -> str | None:
    keys = SHAPES.get(shape, {})
    if key in keys:
        return key
    wanted = camel(key)
    return next((name for name in keys if camel(name) == wanted), None)


def path_steps(shape: str, path: str) -> list[tuple[str, str]] | None:
    """The ``(shape, key)`` each segment of a field path names (``customer.tier`` on an Opportunity:
    ``[("Opportunity", "customerId"), ("Customer", "tier")]``), following id keys to the record type REFERENCES
    names; None when a segment is no plain key of its shape, or one before the last names no record."""
    steps: list[tuple[str, str]] = []
    current = shape
    parts = path.split(".") if isinstance(path, str) else []
    for i, part in enumerate(parts):
        name = _key_name(current, part)
        if name is None or not isinstance(SHAPES[current][name], tuple):
            return None
        steps.append((current, name))
        if i < len(parts) - 1:
            target = REFERENCES.get(name)
            if target is None or target not in SHAPES:
                return None
            current = target
    return steps or None


def key_governs(shape: str, key: str) -> Governs:
    declared = SHAPES.get(shape, {}).get(key)
    return declared if isinstance(declared, tuple) else ()


def path_governs(shape: str, path: str) -> Governs | None:
    """Every ``Type.field`` whose read permission a field path's value needs (None: no such path)."""
    steps = path_steps(shape, path)
    return None if steps is None else tuple(g for s, k in steps for g in key_governs(s, k))
