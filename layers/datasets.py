"""The dataset registry (table ``dataset``): what has been loaded, and whether it is synthetic.

Outputs say 示例数据（合成） only when synthetic data is loaded: a real county's map API must
not call its households made up.
"""

from __future__ import annotations

import sqlalchemy as sa

from geo.synthetic import SYNTHETIC_NOTE as SYNTHETIC_NOTE  # re-exported


def synthetic_data_loaded(conn: sa.Connection) -> bool:
    """True when a synthetic dataset (the Lianzhou demo ``lianzhou-demo``, the province
    world ``guangdong-province-demo``) is loaded."""
    return bool(
        conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM dataset WHERE synthetic)")).scalar()
    )


def synthetic_note(engine: sa.Engine) -> str:
    """``示例数据（合成）`` when synthetic data is loaded, else an empty string."""
    with engine.connect() as conn:
        return SYNTHETIC_NOTE if synthetic_data_loaded(conn) else ""
