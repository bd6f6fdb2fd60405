"""Billing: payment plans, invoices, payments, receivables. Reacts to ``MilestoneReached`` (an installment
waiting for that milestone falls due) and ``ContractTerminated`` (open installments are cancelled)."""

from . import payment_plan  # noqa: F401  (registers the reactions)
