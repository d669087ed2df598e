<%!
    import json

    def literal(value):
        # Double quotes, as `ruff format` writes them, so that a new revision passes the format check untouched.
        if isinstance(value, tuple):
            return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
        return "None" if value is None else json.dumps(value)

    def typed(value):
        # Alembic hands over a str, None, or a tuple (a merge of heads, several labels). Every file in versions/ is
        # type-checked with the package, so the annotation follows the value, and an empty tuple becomes None.
        if isinstance(value, (tuple, list)):
            value = None if not value else value[0] if len(value) == 1 else tuple(value)
        kind = "tuple[str, ...]" if isinstance(value, tuple) else "str | None"
        return f"{kind} = {literal(value)}"
%>"""${message}"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
% if imports:
${imports}
% endif

revision: str = ${literal(up_revision)}
down_revision: ${typed(down_revision)}
branch_labels: ${typed(branch_labels)}
depends_on: ${typed(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
