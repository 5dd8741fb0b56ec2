"""Colours shared by every map and chart, so a household's status reads the same on the wall
map, the web map and the report charts.

>>> STATUS_COLOURS["poor"]
'#d7191c'
"""

#: 未脱贫 red, 返贫 purple, 已脱贫 green (print-safe, distinct for colour-blind readers).
STATUS_COLOURS = {"poor": "#d7191c", "returned": "#6a1b9a", "exited": "#1b9e77"}
