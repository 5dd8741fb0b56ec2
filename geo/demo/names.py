"""Plausible synthetic place and person names for the demo world (northern Guangdong style).

Names are drawn from small character lists with the generator passed in; callers pass the
set of names already taken where uniqueness matters.
"""

from __future__ import annotations

import numpy as np

# Common first and second characters of village names in the 连州/连阳 area.
PLACE_FIRST = tuple(
    "大小上下新石黄龙马牛东西南北高长白青丰联和安平清双三五九田塘岭桂梅竹松杨柏沙金凤鹤水云山茶麻洞陂湾朝万"
)
PLACE_SECOND = tuple("坪坑冲洞塘岭江湾坝口田头岗山源陂岩寨背脚桥铺角围圩联星光和丰安富平溪水林楼冈")
HAMLET_PREFIX = tuple("上下中新老大小")
HAMLET_SUFFIX_3 = ("冲", "坑", "寨", "排", "屋场", "岭脚", "坪", "垌", "背", "坳")
SURNAMES_HAMLET = tuple("黄李陈邓刘张莫唐欧梁曾盘赵房潘周何罗廖成")
SURNAMES = tuple("陈李黄张梁刘林吴何罗郑谢冯曾邓彭许苏潘朱叶杨蔡钟郭卢赖莫廖唐")
GIVEN = tuple(
    "伟志强俊明华国建文海军斌杰峰勇涛辉东新永浩宇晓丽敏静婷芳燕红霞玲慧洁萍雪琳颖嘉锦健荣思雅泽"
)

# 广州 is Lianzhou's pairing city (seed 002 §22): key villages were helped by its units.
GUANGZHOU_UNITS = (
    "广州市财政局",
    "广州市发展和改革委员会",
    "广州市教育局",
    "广州市科技和信息化局",
    "广州市民政局",
    "广州市人力资源和社会保障局",
    "广州市国土资源和规划委员会",
    "广州市住房和城乡建设委员会",
    "广州市交通委员会",
    "广州市水务局",
    "广州市农业局",
    "广州市林业和园林局",
    "广州市商务委员会",
    "广州市卫生和计划生育委员会",
    "广州市审计局",
    "广州市环境保护局",
    "广州市工商行政管理局",
    "广州市质量技术监督局",
    "广州市统计局",
    "广州市城市管理委员会",
    "广州市文化广电新闻出版局",
    "广州市体育局",
    "广州市旅游局",
    "广州市食品药品监督管理局",
    "广州市安全生产监督管理局",
    "广州市司法局",
    "广州市国有资产监督管理委员会",
    "广州市地方税务局",
    "广州供电局",
    "广州市总工会",
    "共青团广州市委员会",
    "广州市妇女联合会",
    "广州市科学技术协会",
    "广州市物价局",
    "广州市档案局",
    "广州市港务局",
    "广州市越秀区人民政府",
    "广州市海珠区人民政府",
    "广州市荔湾区人民政府",
    "广州市天河区人民政府",
    "广州市白云区人民政府",
    "广州市黄埔区人民政府",
    "广州市番禺区人民政府",
    "广州市花都区人民政府",
    "广州市南沙区人民政府",
    "广州市从化区人民政府",
    "广州市增城区人民政府",
)


def _pick(rng: np.random.Generator, items: tuple) -> str:
    return items[int(rng.integers(len(items)))]


def place_stem(rng: np.random.Generator) -> str:
    """A two-character place name such as 石角 or 大坪."""
    while True:
        first, second = _pick(rng, PLACE_FIRST), _pick(rng, PLACE_SECOND)
        if first != second:
            return first + second


def village_name(rng: np.random.Generator, taken: set[str]) -> str:
    """A new administrative village name (…村) not in ``taken``; adds it to ``taken``."""
    while True:
        name = place_stem(rng) + "村"
        if name not in taken:
            taken.add(name)
            return name


def hamlet_name(rng: np.random.Generator, taken: set[str], yao: bool = False) -> str:
    """A new natural-village name (上坪, 黄屋, 石门冲, 盘家排 …) not in ``taken``."""
    while True:
        kind = rng.random()
        if kind < 0.3:
            name = _pick(rng, HAMLET_PREFIX) + _pick(rng, PLACE_SECOND)
        elif kind < 0.5:
            name = _pick(rng, SURNAMES_HAMLET) + ("家" if yao else _pick(rng, ("屋", "屋", "家")))
        elif kind < 0.75 or yao:
            suffix = _pick(rng, ("排", "寨", "冲")) if yao else _pick(rng, HAMLET_SUFFIX_3)
            name = place_stem(rng)[:1] + _pick(rng, PLACE_SECOND) + suffix
        else:
            name = place_stem(rng)
        if name not in taken and not name.endswith("村"):
            taken.add(name)
            return name


def person_name(rng: np.random.Generator) -> str:
    """A synthetic two- or three-character personal name."""
    given_len = 1 if rng.random() < 0.3 else 2
    return _pick(rng, SURNAMES) + "".join(_pick(rng, GIVEN) for _ in range(given_len))
