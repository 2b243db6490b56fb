"""Rollout area: one head again. ``rollout_0002_plan_source`` and ``rollout_0002_audit_mac`` both grew from
``rollout_0001``; this revision joins them (it changes no table), so ``rollout@head`` names one revision and
the next rollout migration descends from it. A store that has both applied moves to it as a no-op."""

revision = "rollout_0003_merge"
down_revision = ("rollout_0002_audit_mac", "rollout_0002_plan_source")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
