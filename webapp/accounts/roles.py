"""Roles and the permissions each one holds: the domain half of the permission table (the web half,
`webapp.web.permissions`, maps every endpoint to one of these permissions)."""
from __future__ import annotations

ANALYST, AUDITOR, MODEL_ADMIN, ADMIN = "analyst", "auditor", "model_admin", "admin"
ROLES = (ANALYST, AUDITOR, MODEL_ADMIN, ADMIN)

SCORE = "score"                  # upload and score files
READ_RESULTS = "read_results"    # own results (analysts) or all of them (see SEE_ALL)
SEE_ALL = "see_all"              # every batch, result and decision, not only one's own
READ_MODEL = "read_model"        # the model card and template
MANAGE_MODELS = "manage_models"  # model versions
READ_EVENTS = "read_events"      # the events log
MANAGE_USERS = "manage_users"    # users, keys, record holds
OWN_ACCOUNT = "own_account"      # one's own password and keys

_EVERYONE = {READ_RESULTS, READ_MODEL, OWN_ACCOUNT}
PERMISSIONS: dict[str, frozenset[str]] = {
    ANALYST: frozenset(_EVERYONE | {SCORE}),
    AUDITOR: frozenset(_EVERYONE | {SEE_ALL, READ_EVENTS}),  # reads everything, scores nothing
    MODEL_ADMIN: frozenset(_EVERYONE | {SCORE, MANAGE_MODELS}),
    ADMIN: frozenset(_EVERYONE | {SCORE, MANAGE_MODELS, SEE_ALL, READ_EVENTS, MANAGE_USERS}),
}


def may(role: str, permission: str) -> bool:
    return permission in PERMISSIONS.get(role, frozenset())

# The longest an API key may be made to last: a hundred years. The setting and `keys create --days`
# are held to it (a typo of a few more digits overflowed the date: a 500, not a refusal).
MAX_KEY_DAYS = 36_500
