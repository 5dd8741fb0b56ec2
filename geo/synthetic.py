"""The one label of synthetic data: ``示例数据（合成）``.

Every output that shows generated households (the demo, the province-scale set) carries it;
outputs of a real county's data never do. Whether data is synthetic comes from the rows'
``synthetic`` flags or, for whole pages, from the dataset registry (layers/datasets.py).

>>> synthetic_note(True), synthetic_note(False)
('示例数据（合成）', '')
"""

from __future__ import annotations

SYNTHETIC_NOTE = "示例数据（合成）"


def synthetic_note(synthetic: bool) -> str:
    """The label when ``synthetic``, else an empty string."""
    return SYNTHETIC_NOTE if synthetic else ""
