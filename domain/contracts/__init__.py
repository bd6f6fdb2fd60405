"""Contracts: approval, e-signature, amendments, termination. Its signing requests lapse when an
approved contract returns to draft (``ContractReturnedToDraft``)."""

from . import outward, signature  # noqa: F401  (registers the reactions and outward writers)
