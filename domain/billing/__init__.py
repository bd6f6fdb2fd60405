"""Billing: payment plans, invoices, payments, receivables. Reacts to ``MilestoneReached`` (an installment
waiting for that milestone falls due) and ``ContractTerminated`` (open installments are cancelled); writes
the outward row of its own ``InvoiceOverdue``."""

from . import invoice, payment_plan  # noqa: F401  (registers the reactions and outward writers)
