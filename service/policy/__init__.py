"""The incident response guide as data: severities, roles, contacts, escalations, business hours."""
from .durations import duration_in_words, parse_duration
from .loader import PolicyError, load_policy, parse_policy
from .model import BusinessHours, ChainStep, Contact, Escalation, OnCall, Policy, Role, Severity

__all__ = [
    "BusinessHours", "ChainStep", "Contact", "Escalation", "OnCall", "Policy", "PolicyError", "Role", "Severity",
    "duration_in_words", "load_policy", "parse_duration", "parse_policy",
]
