"""The national classification: old platform codes become the standard's, and a report's filing condition.

The platform's own codes for what the standard classifies (GB/T 30428.2: 乱堆物堆料, 占道经营, 露天烧烤,
the municipal-facility faults) become its event codes or its component classes (部件, "BJ" + 大类 +
小类); cases and events are rewritten, and the mapping is kept in ``category_mapping`` so that old
exports and reports can still be read. A case on a filing condition (立案条件) names it in
``condition``; a case whose old code meant one condition (井盖缺失破损: a missing or broken cover)
is given that one. The new class's SLA class is written too.

Revision ID: 0031
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

# old code → new code, its filing condition, its SLA class (as cases/data/classification.yaml says)
MAPPING = (
    ("8101", "0507", None, "minor"),  # 乱堆物堆料 → 街面秩序 乱堆物堆料
    ("8102", "0501", None, "general"),  # 占道经营 → 街面秩序 无照经营游商
    ("8103", "0510", None, "general"),  # 露天烧烤 → 街面秩序 露天烧烤
    ("8201", "BJ0113", "1", "general"),  # 井盖缺失破损 → 部件 无主井盖 (owner unknown), 缺失/破损
    ("8202", "BJ0116", "1", "general"),  # 路灯不亮 → 部件 路灯, 不亮
    ("8203", "0151", None, "general"),  # 道路破损 → 市容环境 道路破损 (city extension)
    ("8204", "BJ0104", "2", "general"),  # 雨水篦子堵塞 → 部件 雨水箅子, 堵塞
    ("8205", "0651", None, "general"),  # 公共设施损坏 → 其他事件 公共设施损坏 (city extension)
)


def upgrade() -> None:
    op.add_column("event", sa.Column("condition", sa.String(2)))
    op.add_column("case", sa.Column("condition", sa.String(2)))
    op.create_table(
        "category_mapping",
        sa.Column("old_code", sa.String(8), primary_key=True),
        sa.Column("new_code", sa.String(8), nullable=False),
        sa.Column("condition", sa.String(2)),
        sa.Column("mapped_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    for old, new, condition, sla_class in MAPPING:
        values = {"old": old, "new": new, "condition": condition, "sla_class": sla_class}
        op.execute(
            sa.text(
                "INSERT INTO category_mapping (old_code, new_code, condition) VALUES (:old, :new, :condition)"
            ).bindparams(**{k: values[k] for k in ("old", "new", "condition")})
        )
        op.execute(
            sa.text("UPDATE event SET category = :new, condition = :condition WHERE category = :old").bindparams(
                **{k: values[k] for k in ("old", "new", "condition")}
            )
        )
        op.execute(
            sa.text(
                'UPDATE "case" SET category = :new, condition = :condition, sla_class = :sla_class'
                " WHERE category = :old"
            ).bindparams(**values)
        )
        op.execute(
            sa.text("UPDATE open311_request SET service_code = :new WHERE service_code = :old").bindparams(
                old=old, new=new
            )
        )


def downgrade() -> None:
    for old, new, _, _ in MAPPING:
        op.execute(sa.text("UPDATE event SET category = :old WHERE category = :new").bindparams(old=old, new=new))
        op.execute(sa.text('UPDATE "case" SET category = :old WHERE category = :new').bindparams(old=old, new=new))
    op.drop_table("category_mapping")
    op.drop_column("case", "condition")
    op.drop_column("event", "condition")
