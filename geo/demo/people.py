"""Synthetic people for the Lianzhou demo: poor households, members, incomes, cadres, records.

``generate_people`` takes the synthetic geography (townships, villages, hamlets) and returns
every people table of the data model (briefs/datamodel.md), with ids 1..n ready to insert.
Everything is vectorised with numpy; the same seed gives identical tables.

The bands below are what the generator aims at and what ``tests/test_demo_people.py`` checks.
Seeds are the policy texts in shared/seeds/ (see DOMAIN.md).

Households (建档立卡户)
  * 15,000–20,000 in Lianzhou (default 18,000); one third in the provincial key villages and
    two thirds scattered outside them (seed 003: "相对贫困村外仍有超过2/3的分散贫困人口").
  * Per hamlet roughly population × poverty rate; the rate is 2–4× higher in remote
    hamlets (far from the township seat, no hardened road, no piped water, high and steep
    when the hamlets carry ``elevation_m``/``slope_deg``) and up to 90 % in hamlets lacking
    living conditions, which so get a few hundred households (seed 001: 324 to relocate).
    Urban communities (居委会, ``committee`` column) are towns: a tenth of the rate, at most
    3 % of their households poor.
  * Points form a compact, elongated cluster around the hamlet point, made of 1–3 house
    groups: median distance to the hamlet point 30–150 m; always inside the own village.
  * household_no = 12-digit village code + 4-digit sequence in the village, e.g.
    ``4418821012010001``.
  * members 1–8, mean ~3.2; category general ~75 %, dibao ~20 %, tekun ~5 % (tekun: 1–2
    members, no labour); labour_members = members able to work (ordinary, skilled, weak).
  * main_cause: illness 35–45 %, then labour, skills, disability, education, capital …;
    secondary_cause for ~45 %. Hamlets lacking living conditions get several times the share
    of disaster/transport/water causes and ~35 % dangerous houses.
  * housing: ~6 % dangerous at registration, ~80 % of them renovated by 2018 (seed 001:
    964 dangerous houses to rebuild in Lianzhou 2013–2015, the same order of magnitude),
    so ~5 % renovated, ~1.5 % still dangerous_c/d, the rest safe.
  * exit schedule, cumulative share of people: 28.3 % by end 2016, 62.3 % by 2017 (seed 002:
    0.5 M, then 0.6 M, then 0.665 M more of the 1.765 M people; 50+60+66.5 = 176.5, so the
    targets are yearly increments), 94 % by 2018 (the demo leaves ~6 % poor to monitor);
    ~1 % of households returned (返贫). exit_year set exactly when exited/returned.
  * per-capita income 2015–2018: poor households below the exit line, most below the
    4,000 yuan (2014 prices) profile line of seed 002 in 2015; in the exit year above the
    line (labour households: 45 % of the provincial rural income, 7,365 yuan in 2018 per seed
    002, deflated 7 %/yr before; others: 4,000 grown 7 %/yr); ~1 % of households with an
    implausible jump (×6 to ×10 in one year, a typo or 数字脱贫 on paper) for the checks to
    find; genuine year-over-year ratios stay below 5 (``IMPLAUSIBLE_RATIO``).
  * names: common Lianzhou surnames; Yao surnames 盘/房/邓/赵/唐 in 三水/瑶安; ID numbers valid
    (GB 11643, region 441882) and consistent with birth year and sex; phone for ~80 %.

Cadres (seeds 003/004)
  * One work group per township, "<township>帮扶工作组": leader = township Party secretary
    ("统筹全镇扶贫工作"), one deputy, members = the cadres who cover scattered households
    (分组包片), plus first secretaries of villages helped from outside Lianzhou.
  * Each covering cadre has 5–13 households (at most 15); ~1.5 % of scattered households
    are deliberately left without a cadre. Key-village households get cadres of the village's
    helping unit, split province/Guangzhou/Qingyuan/Lianzhou as 7/25/13/12 (seed 001).

Records
  * help_records: 九到户 measures from 2016-03-01: the 建档立卡 visit in March–April 2016
    (with the 健康扶贫 record of a seriously ill member), then a record every 80–88 days
    while the household is still to help (seed 001 每季), until its exit year ends, through
    2019 for those still poor or returned; a few more measures fitting the household;
    amounts per measure (finance ≤ 50,000, seed 003); signatures mostly present (~6 % of
    record books, and those of lazy cadres, miss many). Planted neglect (``planted``): the
    households of ~3 % lazy cadres, of no cadre, and 1 % of the rest get the first visit
    only (a 危房改造 record by the county aside).
  * visits: ~6 % of households inspected in 2017–2018 (seed 001: 督查/抽查), result and
    findings consistent with the data's anomalies, GPS point within ~10 m of the household.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import idnumber, vocab

LIANZHOU = 441882
REGISTERED_YEAR = 2016  # 建档立卡 of the 2016–2018 round (seed 002)
INCOME_YEARS = (2015, 2016, 2017, 2018)
DEFAULT_HOUSEHOLDS = 18_000
KEY_VILLAGE_SHARE = 1 / 3  # seed 003: more than 2/3 of the poor live outside poor villages
PEOPLE_PER_HOUSEHOLD = 3.6  # rural average, to cap poor households by hamlet population
MAX_POOR_SHARE = 0.6  # at most this share of a hamlet's households is poor
MAX_POOR_SHARE_LACKING = 0.9  # 两不具备 hamlets: nearly everyone is poor
COMMUNITY_RATE = 0.1  # urban communities (居委会): a tenth of a rural hamlet's poverty rate
COMMUNITY_MAX_POOR_SHARE = 0.03  # and at most 3 % of their households are poor

# Exit schedule (seed 002 §3): 0.5 M, 0.6 M and 0.665 M of 1.765 M people in 2016/17/18.
EXIT_CUMULATIVE = {2016: 0.5 / 1.765, 2017: 1.1 / 1.765, 2018: 0.94}
# 三保障 includes safe housing: only this share of dangerous houses may exit (数字脱贫 to find)
EXITED_IN_DANGER_SHARE = 0.08
RETURNED_SHARE = 0.015  # of 2016/17 exits; 返贫 (seed 003: 防止因病致贫、因贫返贫)
IMPLAUSIBLE_RATIO = 5.0  # a year-over-year income ratio above this is flagged
# Exit line for labour households: 45 % of provincial rural income, 7,365 yuan in 2018
# (seed 002 §3); earlier years deflated by the 7 %/yr growth target of the same section.
EXIT_LINE_LABOUR = {2016: 6433.0, 2017: 6883.0, 2018: 7365.0}
# Households without labour exit through 低保兜底: the 4,000 yuan line grown 7 %/yr.
EXIT_LINE_NO_LABOUR = {2016: 4580.0, 2017: 4900.0, 2018: 5243.0}
PROFILE_LINE = 4000.0  # seed 002 §2: below 4,000 yuan per capita (2014 prices)

CATEGORIES = list(vocab.CATEGORY)  # general, dibao, tekun
CATEGORY_P = np.array([0.75, 0.20, 0.05])
# members 1..8 by category; means 3.45, 2.81, 1.2 → overall ~3.2
MEMBERS_PMF = np.array(
    [
        [0.10, 0.19, 0.25, 0.23, 0.13, 0.06, 0.03, 0.01],
        [0.25, 0.25, 0.20, 0.15, 0.08, 0.04, 0.02, 0.01],
        [0.80, 0.20, 0, 0, 0, 0, 0, 0],
    ]
)
CAUSES = list(vocab.CAUSE)
# illness disability education disaster land water skills labour capital transport motiv. other
CAUSE_P = np.array(
    [
        [0.36, 0.07, 0.11, 0.025, 0.025, 0.01, 0.15, 0.09, 0.09, 0.03, 0.03, 0.01],
        [0.48, 0.22, 0.02, 0.01, 0.0, 0.0, 0.03, 0.20, 0.01, 0.01, 0.01, 0.01],
        [0.25, 0.30, 0.0, 0.0, 0.0, 0.0, 0.0, 0.43, 0.0, 0.0, 0.0, 0.02],
    ]
)
SECONDARY_CAUSE_SHARE = 0.45
C = {code: i for i, code in enumerate(CAUSES)}
LACKING_CAUSE_BOOST = {"disaster": 6.0, "transport": 8.0, "water": 2.0, "land": 2.0}
REMOTE_CAUSE_BOOST = {"transport": 2.5, "water": 1.5}

RELATIONS = list(vocab.RELATION)  # head spouse child parent grandchild sibling other
HEAD, SPOUSE, CHILD, PARENT, GRANDCHILD, SIBLING, OTHER = range(7)
HEALTHS = list(vocab.HEALTH)  # healthy chronic serious disabled
SCHOOLINGS = list(vocab.SCHOOLING)
LABOURS = list(vocab.LABOUR_CAPACITY)  # ordinary skilled weak lost none
ABLE_TO_WORK = (0, 1, 2)  # ordinary, skilled, weak count as labour (劳动力)
# adult schooling by birth cohort (<1950, 1950–69, 1970–89, ≥1990):
# none preschool primary junior senior vocational college in_school
ADULT_SCHOOLING_P = np.array(
    [
        [0.35, 0, 0.50, 0.13, 0.02, 0, 0, 0],
        [0.12, 0, 0.45, 0.35, 0.07, 0.01, 0, 0],
        [0.03, 0, 0.20, 0.50, 0.15, 0.10, 0.02, 0],
        [0.0, 0, 0.05, 0.45, 0.22, 0.20, 0.08, 0],
    ]
)

COMMON_SURNAMES = {
    "黄": 9, "李": 8, "陈": 8, "唐": 5, "邓": 5, "何": 4, "莫": 4, "刘": 4, "廖": 4, "成": 3,
    "罗": 3, "周": 3, "张": 3, "梁": 3, "欧": 2.5, "吴": 2.5, "王": 2.5, "林": 2, "曾": 2,
    "谢": 2, "冯": 2, "潘": 2, "朱": 2, "杨": 2, "赖": 1.5, "钟": 1.5, "叶": 1.5, "卢": 1.5,
    "邹": 1.5, "胡": 1, "徐": 1, "蒋": 1, "彭": 1, "温": 1, "汤": 1, "欧阳": 1, "龙": 0.8,
    "雷": 0.8, "范": 0.8, "石": 0.6, "孔": 0.5, "沈": 0.5,
}  # fmt: skip
YAO_SURNAMES = {
    "盘": 10, "房": 7, "邓": 6, "赵": 5, "唐": 3, "李": 2, "沈": 2, "冯": 1.5, "黄": 1.5,
}  # fmt: skip
YAO_SHARE = 0.75  # of people in the Yao townships carrying a Yao surname
MALE_CHARS = (
    "伟强军华明国建志平文辉林海金生永福德财东荣贵成勇斌俊杰浩宇亮峰"
    "广庆兴旺发昌忠良锋进贤才祥光新春树清水"
)
FEMALE_CHARS = "芳秀英丽梅兰华玉红艳霞娟凤珍燕琴婷敏静雪萍莲桂金花妹娣群秋月翠芬慧琳欣怡"
PHONE_SECOND_DIGIT = np.array([3, 5, 8, 7, 9, 4, 6])
PHONE_SECOND_DIGIT_P = np.array([0.34, 0.26, 0.24, 0.08, 0.04, 0.02, 0.02])

# Helping units of the key villages (seed 001: 省直 7, 广州市 25, 清远市 13, 连州市 12 of 57).
HELPING_UNIT_SPLIT = (("province", 7), ("guangzhou", 25), ("qingyuan", 13), ("lianzhou", 12))
UNITS = {
    "province": [
        "广东省财政厅", "广东省农业厅", "广东省交通运输厅", "广东省水利厅", "广东省教育厅",
        "广东省卫生和计划生育委员会", "广东省民政厅", "广东省人力资源和社会保障厅",
        "广东省国土资源厅", "广东省林业厅",
    ],
    "guangzhou": [
        "广州市财政局", "广州市发展和改革委员会", "广州市教育局", "广州市科技创新委员会",
        "广州市工业和信息化委员会", "广州市民政局", "广州市司法局", "广州市人力资源和社会保障局",
        "广州市国土资源和规划委员会", "广州市环境保护局", "广州市住房和城乡建设委员会",
        "广州市交通委员会", "广州市水务局", "广州市农业局", "广州市林业和园林局",
        "广州市商务委员会", "广州市文化广电新闻出版局", "广州市卫生和计划生育委员会",
        "广州市审计局", "广州市统计局", "广州市工商行政管理局", "广州市旅游局",
        "广州市供销合作总社", "广州市城市管理委员会", "广州市体育局", "广州市质量技术监督局",
        "广州市食品药品监督管理局",
    ],
    "qingyuan": [
        "清远市财政局", "清远市发展和改革局", "清远市教育局", "清远市民政局",
        "清远市人力资源和社会保障局", "清远市国土资源局", "清远市住房和城乡建设局",
        "清远市交通运输局", "清远市水利局", "清远市农业局", "清远市林业局",
        "清远市卫生和计划生育局", "清远市审计局", "清远市统计局", "清远市公安局",
    ],
    "lianzhou": [
        "连州市财政局", "连州市发展和改革局", "连州市教育局", "连州市民政局",
        "连州市人力资源和社会保障局", "连州市国土资源局", "连州市住房和城乡建设局",
        "连州市交通运输局", "连州市水务局", "连州市农业局", "连州市林业局",
        "连州市卫生和计划生育局", "连州市公安局", "连州市审计局", "连州市统计局",
        "连州市市场监督管理局", "连州市供销合作联社", "连州市人民法院", "连州市人民检察院",
        "中国农业银行连州市支行", "连州市农村信用合作联社", "连州供电局",
        "连州市文化广电新闻出版局", "连州市环境保护局",
    ],
}  # fmt: skip
UNIT_LEVEL_OF = {
    "province": "province",
    "guangzhou": "city",
    "qingyuan": "city",
    "lianzhou": "county",
}
# Origin of the cadres covering scattered households
# (seed 004: 乡镇领导, 乡镇其他干部, 市县驻镇干部)
SCATTERED_CADRE_ORIGIN_P = {"township": 0.55, "lianzhou": 0.35, "qingyuan": 0.10}
HOUSEHOLDS_PER_CADRE = (5, 13)  # inclusive range of a cadre's load
MAX_HOUSEHOLDS_PER_CADRE = 15  # a short remainder joins a cadre up to this
UNCOVERED_SHARE = 0.015
LAZY_CADRE_SHARE = 0.03  # seed 004: cadres who do not do the work are to be held accountable
SLOPPY_BOOK_SHARE = 0.06  # record books (帮扶记录簿) with many missing signatures
NEGLECT_SHARE = 0.01  # households whose due medical or quarterly help goes unrecorded (flags)
# Households still to help are seen every quarter (seed 001 每季一督查): one record every
# 80–88 days, so no ordinary household goes 90 days (the no_help_record flag) unrecorded.
QUARTERLY_DAYS = (80, 88)

MEASURES = list(vocab.MEASURE)
RECORD_START, RECORD_END = dt.date(2016, 3, 1), dt.date(2018, 12, 31)
OPEN_RECORD_END = dt.date(2019, 12, 31)  # households still to help are visited in 2019 too
CARD_YEAR = 2019  # the members' schooling is as of the card's last update (动态调整)
NOTES = {
    "policy": ["宣讲精准扶贫政策，核实家庭基本情况", "入户宣传“九到户”帮扶政策",
               "讲解低保、医保等惠民政策"],
    "industry": ["发放种养业奖补资金", "扶持种植连州菜心", "扶持种植水晶梨", "扶持养殖家禽",
                 "提供农业实用技术培训"],
    "employment": ["推荐到珠三角企业转移就业", "组织参加技能培训", "安排公益性岗位（护林员）",
                   "安排公益性岗位（保洁员）"],
    "social_security": ["纳入农村低保，按月发放低保金", "代缴城乡居民养老保险", "发放特困供养金"],
    "education": ["发放在校生生活费补助", "落实义务教育“两免一补”", "办理中职免学费"],
    "medical": ["代缴城乡居民医保个人缴费", "大病医疗救助", "落实慢性病门诊报销"],
    "housing": ["危房改造补助（拆旧建新）", "危房改造补助（加固维修）"],
    "finance": ["办理扶贫小额信贷（3年以内、免抵押、贴息）"],
    "asset_income": ["光伏项目资产收益分红", "入股合作社分红", "小水电资产收益分红"],
}  # fmt: skip
# (share of records with an amount, low, high, rounding step) per measure
AMOUNTS = {
    "industry": (0.8, 1_000, 8_000, 100),
    "employment": (0.4, 300, 2_000, 50),
    "social_security": (1.0, 1_200, 6_000, 10),
    "education": (1.0, 1_500, 5_000, 100),
    "medical": (0.9, 300, 20_000, 10),
    "housing": (1.0, 15_000, 40_000, 1_000),
    "finance": (1.0, 10_000, 50_000, 5_000),  # seed 003: 5万元以下、3年以内
    "asset_income": (1.0, 300, 2_400, 10),
}
INSPECTORS = ["张志明", "黄伟强", "李秀英", "陈国华", "唐建平", "邓丽萍", "刘永福", "莫俊杰",
              "何海燕", "廖文辉", "成志强", "罗美玲"]  # fmt: skip
VISITED_SHARE = 0.06
FINDINGS = {
    "uncovered": "未落实帮扶责任人",
    "jump": "收入数据与实际不符，疑似虚报",
    "dangerous": "已脱贫但仍住危房",
    "unsigned": "帮扶记录簿签名不全",
    "random": [
        "家庭成员信息与户籍不符",
        "帮扶干部未按时走访",
        "户主电话无法联系",
        "帮扶措施未落实到户",
    ],
}
ABSENT_FINDINGS = ["户主外出务工，家中无人", "家中无人，已电话联系", "户主在外就医"]


@dataclass
class People:
    """The people half of the demo, one frame per table; ids are final (1..n)."""

    households: gpd.GeoDataFrame
    household_members: pd.DataFrame
    household_income: pd.DataFrame
    cadres: pd.DataFrame
    work_groups: pd.DataFrame
    work_group_members: pd.DataFrame
    help_records: pd.DataFrame
    visits: gpd.GeoDataFrame
    village_updates: pd.DataFrame  # code, helping_unit, first_secretary of key villages
    # the deliberate anomalies (not a table): household_id or cadre_id, and the flag kind
    # that should find them (bench/flags_quality.py measures precision and recall)
    planted: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """Database table name → frame, in an order that satisfies the foreign keys."""
        return {
            "cadre": self.cadres,
            "work_group": self.work_groups,
            "work_group_member": self.work_group_members,
            "household": self.households,
            "household_income": self.household_income,
            "household_member": self.household_members,
            "help_record": self.help_records,
            "visit": self.visits,
        }


def generate_people(
    townships: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    hamlets: gpd.GeoDataFrame,
    seed: int,
    n_households: int = DEFAULT_HOUSEHOLDS,
    region: int = LIANZHOU,
) -> People:
    """Poor households and everything about them for a synthetic county (see module doc).

    Inputs are EPSG:4326 frames: townships(code, name, seat, geometry), villages(code,
    township_code, name, is_poor_village, key_level, geometry) and hamlets(id, village_code,
    name, population, road_hardened, piped_water, lacking_conditions, geometry Point;
    optional elevation_m, slope_deg); the geometry column may have any name.
    ``n_households`` is met exactly unless hamlet populations are too small to hold it (a
    hamlet's poor households are capped at 60 % of its households, 90 % if it lacks living
    conditions).
    """
    rng = random_streams(seed)
    towns = townships.sort_values("code").reset_index(drop=True)
    vills = villages.sort_values("code").reset_index(drop=True)
    ham = _hamlet_context(towns, vills, hamlets)
    counts = _allocate_to_hamlets(rng["allocate"], ham, n_households)
    hh = ham.loc[ham.index.repeat(counts)].reset_index(drop=True)
    x, y = _place_in_villages(rng["place"], hh, ham, counts, vills)
    profile = draw_profile(rng["profile"], hh["remote"].to_numpy(), hh["lacking"].to_numpy())
    members, labour = draw_members(rng["members"], profile, hh["yao"].to_numpy(), region)
    profile["labour_members"] = labour
    draw_status(rng["status"], profile)
    incomes = draw_incomes(rng["income"], profile)
    households = _household_frame(rng["contact"], hh, profile, members, x, y)
    cadres, groups, group_members, updates = _assign_cadres(rng["cadres"], households, towns, vills)
    records = _help_records(rng["records"], households, profile, members, cadres)
    visits = _visits(rng["visits"], households, profile, incomes, records)
    return People(
        households=households.drop(columns=["township_code"]),
        household_members=_member_frame(members, households),
        household_income=_income_frame(incomes, households),
        cadres=cadres,
        work_groups=groups,
        work_group_members=group_members,
        help_records=records,
        visits=visits,
        village_updates=updates,
        planted=planted_anomalies(households, profile, members, cadres),
    )


def planted_anomalies(households, profile, members, cadres) -> pd.DataFrame:
    """The anomalies planted for the flags to find: (household_id, cadre_id, kind).

    income_jump: the ×6–10 incomes; no_help_record: households neglected after their first
    visit (find them while still to help); exited_sanbaozhang: a neglected household's
    seriously ill member without 医保救助 (once it exits); exited_dangerous_house: exits on
    paper from a C/D-grade house; cadre_idle: the lazy cadres.
    """
    ids = households["id"].to_numpy()
    n = len(ids)
    serious = np.bincount(members["hh"], members["health"] == "serious", minlength=n) > 0
    neglected = profile["neglected"].to_numpy()
    exited = (profile["status"] == "exited").to_numpy()  # the returned are poor again
    dangerous = profile["housing_status"].str.startswith("dangerous").to_numpy()
    kinds = {
        "income_jump": profile["income_jump"].to_numpy(),
        "no_help_record": neglected,
        "exited_sanbaozhang": neglected & serious & exited,
        "exited_dangerous_house": exited & dangerous,
    }
    lazy = households.loc[profile["lazy_cadre"].to_numpy(), "cadre_id"].unique()
    household_id = np.concatenate([ids[mask] for mask in kinds.values()])
    kind = np.repeat(list(kinds), [int(mask.sum()) for mask in kinds.values()])
    return pd.DataFrame(
        {
            "household_id": pd.array([*household_id, *[None] * len(lazy)], dtype="Int64"),
            "cadre_id": pd.array([*[None] * len(household_id), *lazy], dtype="Int64"),
            "kind": [*kind, *["cadre_idle"] * len(lazy)],
        }
    )


# --- random streams and small helpers ---


STREAMS = ("allocate", "place", "profile", "members", "status", "income", "contact", "cadres",
           "records", "visits")  # fmt: skip


def random_streams(seed: int, names: tuple[str, ...] = STREAMS) -> dict:
    """One independent generator per stage, so changing one stage leaves the others alone."""
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(s) for name, s in zip(names, children, strict=True)}


def pick_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Index of a category drawn per row of a (n, k) weight matrix (rows need not sum to 1)."""
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random((len(weights), 1)) * cumulative[:, -1:]
    return np.minimum((u >= cumulative).sum(axis=1), weights.shape[1] - 1)


def _uniform_int(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Integers uniform in [low, high] elementwise (inclusive)."""
    return low + np.floor(rng.random(np.shape(low)) * (high - low + 1)).astype(np.int64)


def metres_to_degrees(dx: np.ndarray, dy: np.ndarray, lat: np.ndarray) -> tuple:
    """Offsets in metres → offsets in degrees of longitude and latitude at ``lat``."""
    return dx / (111_320.0 * np.cos(np.radians(lat))), dy / 110_574.0


# --- hamlets: context, allocation, placement ---


def _hamlet_context(
    towns: gpd.GeoDataFrame, vills: gpd.GeoDataFrame, hamlets: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Hamlets with their village, township, key flag, Yao flag, remoteness and anchor point."""
    ham = hamlets.sort_values(["village_code", "id"]).reset_index(drop=True)
    village = vills.set_index("code").loc[ham["village_code"]]
    town = towns.set_index("code").loc[village["township_code"]]
    out = pd.DataFrame(
        {
            "hamlet_id": ham["id"].to_numpy(),
            "village_code": ham["village_code"].to_numpy(),
            "township_code": village["township_code"].to_numpy(),
            "key": village["key_level"].notna().to_numpy(),
            "community": _is_community(village).to_numpy(),
            "yao": town["name"].str.contains("三水|瑶安|瑶族").to_numpy(),
            "population": ham["population"].fillna(0).clip(lower=0).to_numpy(),
            "lacking": ham["lacking_conditions"].fillna(False).astype(bool).to_numpy(),
        }
    )
    point_x, point_y = ham.geometry.x.to_numpy(), ham.geometry.y.to_numpy()
    village_geoms = village.geometry.to_numpy()
    shapely.prepare(village_geoms)
    inside = shapely.contains_xy(village_geoms, point_x, point_y)
    fallback = shapely.point_on_surface(village_geoms)  # hamlet point outside its village
    out["x"] = np.where(inside, point_x, shapely.get_x(fallback))
    out["y"] = np.where(inside, point_y, shapely.get_y(fallback))
    seats = _township_seats(towns).loc[out["township_code"]]
    dx, dy = (out["x"] - seats["x"].to_numpy()), (out["y"] - seats["y"].to_numpy())
    km = np.hypot(dx * 111.32 * np.cos(np.radians(out["y"])), dy * 110.57)
    no_road = ~ham["road_hardened"].fillna(False).astype(bool).to_numpy()
    no_water = ~ham["piped_water"].fillna(False).astype(bool).to_numpy()
    # poverty-rate multiplier: 1 in a valley hamlet by the seat, ~4 high up a remote valley
    rate = 1 + 1.2 * np.clip(km / 12, 0, 1) + 0.6 * no_road + 0.3 * no_water
    if "elevation_m" in ham:
        rate += 0.6 * np.clip((ham["elevation_m"].fillna(0).to_numpy() - 150) / 700, 0, 1)
    if "slope_deg" in ham:
        rate += 0.4 * np.clip((ham["slope_deg"].fillna(0).to_numpy() - 10) / 20, 0, 1)
    out["rate"] = np.where(out["community"], COMMUNITY_RATE, rate + 3.0 * out["lacking"])
    out["remote"] = (km > 8) | no_road
    out["spread_m"] = np.clip(20 + 4 * np.sqrt(out["population"]), 30, 150)
    return out


def _is_community(villages: pd.DataFrame) -> pd.Series:
    """Urban communities (居委会) by the ``committee`` column; villages without one are rural."""
    if "committee" not in villages:
        return pd.Series(False, index=villages.index)
    return villages["committee"].eq("居委会").fillna(False).astype(bool)


def _township_seats(towns: gpd.GeoDataFrame) -> pd.DataFrame:
    """Seat coordinates per township code; the polygon's inner point where no seat is given."""
    seat = towns["seat"] if "seat" in towns else pd.Series([None] * len(towns))
    seat = gpd.GeoSeries(seat.to_numpy(), crs=towns.crs)
    missing = seat.isna().to_numpy() | seat.is_empty.to_numpy()
    points = np.where(missing, shapely.point_on_surface(towns.geometry.to_numpy()), seat)
    return pd.DataFrame(
        {"x": shapely.get_x(points), "y": shapely.get_y(points)}, index=towns["code"].to_numpy()
    )


def _allocate_to_hamlets(rng: np.random.Generator, ham: pd.DataFrame, total: int) -> np.ndarray:
    """Poor households per hamlet: 1/3 in key villages, ∝ population × rate, capped."""
    weight = ham["population"].to_numpy() * ham["rate"].to_numpy()
    share = np.where(ham["lacking"], MAX_POOR_SHARE_LACKING, MAX_POOR_SHARE)
    share = np.where(ham["community"], COMMUNITY_MAX_POOR_SHARE, share)
    cap = np.floor(share * ham["population"].to_numpy() / PEOPLE_PER_HOUSEHOLD)
    key = ham["key"].to_numpy()
    counts = np.zeros(len(ham), dtype=np.int64)
    n_key = round(total * KEY_VILLAGE_SHARE) if key.any() and (~key).any() else total * key.any()
    for mask, n in ((key, n_key), (~key, total - n_key)):
        counts[mask] = apportion(rng, n, weight[mask], cap[mask])
    return counts


def apportion(rng: np.random.Generator, total: int, weight: np.ndarray, cap: np.ndarray):
    """Integers ∝ weight summing to ``total`` (or to sum(cap) if smaller), none above cap."""
    total = int(min(total, cap.sum()))
    expected = np.zeros(len(weight))
    free = (weight > 0) & (cap > 0)
    for _ in range(50):  # water-filling: fix capped hamlets, spread the rest
        remaining = total - expected[~free].sum()
        share = np.where(free, weight, 0)
        if share.sum() <= 0 or remaining <= 0:
            break
        expected = np.where(free, remaining * share / share.sum(), expected)
        over = free & (expected > cap)
        if not over.any():
            break
        expected[over] = cap[over]
        free &= ~over
    counts = np.floor(expected).astype(np.int64)
    short = total - counts.sum()
    if short > 0:
        fraction = expected - counts
        room = np.flatnonzero((counts < cap) & (fraction > 0))
        if len(room) == 0:
            return counts
        p = fraction[room] / fraction[room].sum()
        counts[rng.choice(room, size=min(short, len(room)), replace=False, p=p)] += 1
    return counts


def _place_in_villages(
    rng: np.random.Generator,
    hh: pd.DataFrame,
    ham: pd.DataFrame,
    counts: np.ndarray,
    vills: gpd.GeoDataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """Household points: house groups along an elongated cluster, inside the own village."""
    h = len(ham)
    angle = rng.uniform(0, np.pi, h)
    squash = rng.uniform(0.35, 0.7, h)  # minor/major axis: houses string along a valley/road
    groups = np.where(counts < 8, 1, np.where(counts < 25, 2, 3))
    group_u = rng.normal(0, 0.75, (h, 3))
    group_v = rng.normal(0, 0.75, (h, 3))
    hamlet_of = np.repeat(np.arange(h), counts)
    group_of = np.floor(rng.random(len(hh)) * groups[hamlet_of]).astype(int)
    village_geoms = vills.set_index("code").geometry.loc[hh["village_code"]].to_numpy()
    shapely.prepare(village_geoms)
    x, y = hh["x"].to_numpy().copy(), hh["y"].to_numpy().copy()
    todo = np.arange(len(hh))
    for attempt in range(10):  # redraw points outside the village, in a tighter cluster
        i, hi = todo, hamlet_of[todo]
        scale = hh["spread_m"].to_numpy()[i] * 0.75**attempt
        u = (group_u[hi, group_of[i]] + rng.normal(0, 0.3, len(i))) * scale
        v = (group_v[hi, group_of[i]] + rng.normal(0, 0.3, len(i))) * scale * squash[hi]
        dx = u * np.cos(angle[hi]) - v * np.sin(angle[hi])
        dy = u * np.sin(angle[hi]) + v * np.cos(angle[hi])
        dlon, dlat = metres_to_degrees(dx, dy, hh["y"].to_numpy()[i])
        x[i], y[i] = hh["x"].to_numpy()[i] + dlon, hh["y"].to_numpy()[i] + dlat
        todo = i[~shapely.contains_xy(village_geoms[i], x[i], y[i])]
        if len(todo) == 0:
            break
    x[todo], y[todo] = hh["x"].to_numpy()[todo], hh["y"].to_numpy()[todo]  # anchor is inside
    return x, y


# --- household profile, members, status, incomes (shared with geo.demo.province) ---


def draw_profile(rng: np.random.Generator, remote: np.ndarray, lacking: np.ndarray):
    """Category, members, causes and housing at registration for n households."""
    n = len(remote)
    category = rng.choice(3, size=n, p=CATEGORY_P)
    members = pick_rows(rng, MEMBERS_PMF[category]) + 1
    weights = CAUSE_P[category].copy()
    weights[members < 3, C["education"]] = 0  # a student needs a parent and a child at least
    for cause, boost in REMOTE_CAUSE_BOOST.items():
        weights[remote, C[cause]] *= boost
    for cause, boost in LACKING_CAUSE_BOOST.items():
        weights[lacking, C[cause]] *= boost
    main = pick_rows(rng, weights)
    secondary_weights = weights.copy()
    secondary_weights[np.arange(n), main] = 0
    secondary = pick_rows(rng, secondary_weights)
    has_secondary = (rng.random(n) < SECONDARY_CAUSE_SHARE) & (secondary_weights.sum(1) > 0)
    p_dangerous = np.where(lacking, 0.35, np.where(remote, 0.08, 0.05))
    dangerous = rng.random(n) < p_dangerous
    grade = np.where(rng.random(n) < 0.6, "dangerous_c", "dangerous_d")
    renovated = dangerous & (rng.random(n) < np.where(lacking, 0.3, 0.82))
    housing = np.where(renovated, "renovated", np.where(dangerous, grade, "safe"))
    return pd.DataFrame(
        {
            "category": np.array(CATEGORIES)[category],
            "members": members,
            "main_cause": np.array(CAUSES)[main],
            "secondary_cause": np.where(has_secondary, np.array(CAUSES)[secondary], None),
            "housing_status": housing,
            "was_dangerous": dangerous,
            "lacking": lacking,
        }
    )


def head_ages(rng: np.random.Generator, profile: pd.DataFrame) -> np.ndarray:
    """Age of the household head in the registration year, by category and cause."""
    n = len(profile)
    category, cause = profile["category"].to_numpy(), profile["main_cause"].to_numpy()
    age = np.clip(rng.normal(50, 12, n), 24, 85)
    age = np.where(category == "dibao", np.clip(rng.normal(56, 14, n), 24, 92), age)
    age = np.where(cause == "labour", rng.uniform(65, 86, n), age)  # elderly, 留守 grandchildren
    age = np.where(cause == "education", rng.uniform(41, 62, n), age)
    tekun_age = np.where(cause == "disability", rng.uniform(30, 80, n), rng.uniform(60, 92, n))
    age = np.where(category == "tekun", tekun_age, age)
    return np.floor(age).astype(np.int64)


def draw_members(
    rng: np.random.Generator, profile: pd.DataFrame, yao: np.ndarray, region: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per member (household index ``hh``, position ``pos``) and labour per household.

    Relations, birth years, sex, health, schooling and labour capacity are consistent with
    the household's category and causes (因病 → a chronic or seriously ill member, 因残 → a
    disabled one, 因学 → a child in school, 缺劳力 → elderly head with grandchildren, tekun →
    nobody able to work).
    """
    m = profile["members"].to_numpy()
    hh = np.repeat(np.arange(len(m)), m)
    pos = np.arange(len(hh)) - np.repeat(np.cumsum(m) - m, m)
    head_age = head_ages(rng, profile)
    category = profile["category"].to_numpy()[hh]
    cause = profile["main_cause"].to_numpy()[hh]
    relation = _relations(rng, pos, category, cause, head_age[hh], m[hh])
    head_male = head_is_male(rng, profile["category"].to_numpy())
    male = np.where(pos == 0, head_male[hh], rng.random(len(hh)) < 0.52)
    male = np.where(relation == SPOUSE, ~head_male[hh], male)
    birth = _birth_years(rng, relation, REGISTERED_YEAR - head_age[hh], head_male[hh])
    student = (cause == "education") & (pos == m[hh] - 1)
    birth = np.where(student, REGISTERED_YEAR - rng.integers(15, 21, len(hh)), birth)
    age = REGISTERED_YEAR - birth
    health = _health(rng, hh, pos, age, profile)
    schooling = _schooling(rng, age + CARD_YEAR - REGISTERED_YEAR, birth, student)
    labour = _labour_capacity(rng, age, health, schooling, category)
    health = np.where((category == "tekun") & (health == 0) & (age >= 16) & (age < 60), 1, health)
    members = pd.DataFrame(
        {
            "hh": hh,
            "pos": pos,
            "relation": np.array(RELATIONS)[relation],
            "sex": np.where(male, "M", "F"),
            "birth_year": birth,
            "health": np.array(HEALTHS)[health],
            "labour_capacity": np.array(LABOURS)[labour],
            "schooling": np.array(SCHOOLINGS)[schooling],
        }
    )
    members["name"] = _member_names(rng, hh, relation, male, yao[hh])
    members["id_number"] = id_numbers(rng, np.full(len(hh), region), birth, male)
    able = np.isin(labour, ABLE_TO_WORK)
    return members, np.bincount(hh, weights=able, minlength=len(m)).astype(np.int64)


def head_is_male(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Sex of the head: mostly men, more women (widows) among dibao and tekun households."""
    p_male = np.select([category == "tekun", category == "dibao"], [0.65, 0.75], 0.86)
    return rng.random(len(category)) < p_male


def _relations(rng, pos, category, cause, head_age, size) -> np.ndarray:
    """Relation to the head by position: 0 head, 1 mostly spouse, then children and kin."""
    u = rng.random(len(pos))
    p_spouse = np.select([category == "tekun", category == "dibao"], [0.5, 0.6], 0.82)
    second = np.where(u < p_spouse, SPOUSE, np.where(category == "tekun", SIBLING, CHILD))
    later = np.select(
        [u < 0.78, u < 0.88, u < 0.95, u < 0.98], [CHILD, PARENT, GRANDCHILD, SIBLING], OTHER
    )
    later = np.where((later == PARENT) & (head_age >= 62), CHILD, later)
    later = np.where((later == GRANDCHILD) & (head_age < 48), CHILD, later)
    relation = np.where(pos == 0, HEAD, np.where(pos == 1, second, later))
    relation = np.where(
        (cause == "labour") & (pos >= 1) & (relation != SPOUSE), GRANDCHILD, relation
    )
    relation = np.where((cause == "education") & (pos == size - 1), CHILD, relation)
    return relation


def _birth_years(rng, relation, head_birth, head_male) -> np.ndarray:
    """Birth years consistent with the relation to the head, all before registration."""
    n = len(relation)
    latest = REGISTERED_YEAR
    spouse = head_birth + np.round(rng.normal(np.where(head_male, 2, -2), 3)).astype(np.int64)
    child = _uniform_int(rng, head_birth + 20, np.minimum(head_birth + 42, latest))
    parent = head_birth - rng.integers(20, 36, n)
    grand = _uniform_int(
        rng, head_birth + 42, np.maximum(np.minimum(head_birth + 70, latest), head_birth + 42)
    )
    sibling = np.minimum(head_birth + rng.integers(-10, 11, n), head_birth + 15)
    other = head_birth + rng.integers(-25, 26, n)
    birth = np.choose(relation, [head_birth, spouse, child, parent, grand, sibling, other])
    return np.clip(birth, 1916, latest)


def _health(rng, hh, pos, age, profile) -> np.ndarray:
    """0 healthy, 1 chronic, 2 serious, 3 disabled; the cause's member gets the condition."""
    n = len(hh)
    p_chronic = np.clip(0.03 + 0.005 * (age - 40), 0.03, 0.35)
    p_serious = 0.008 + 0.0002 * np.maximum(age - 40, 0)
    u = rng.random(n)
    health = np.select(
        [u < p_chronic, u < p_chronic + p_serious, u < p_chronic + p_serious + 0.012], [1, 2, 3], 0
    )
    m = profile["members"].to_numpy()
    n_hh = len(m)
    chosen = np.where(rng.random(n_hh) < 0.5, 0, np.floor(rng.random(n_hh) * m).astype(int))
    is_chosen = pos == chosen[hh]
    cause = profile["main_cause"].to_numpy()[hh]
    ill = np.where(rng.random(n) < 0.55, 1, 2)
    health = np.where(is_chosen & (cause == "illness"), ill, health)
    return np.where(is_chosen & (cause == "disability"), 3, health)


def _schooling(rng, age, birth, student) -> np.ndarray:
    """Schooling code index by age and birth cohort; the 因学 student is in school."""
    cohort = np.digitize(birth, [1950, 1970, 1990])
    adult = pick_rows(rng, ADULT_SCHOOLING_P[cohort])
    s = {code: i for i, code in enumerate(SCHOOLINGS)}
    u = rng.random(len(age))
    pupil = np.where(u < 0.96, s["in_school"], s["junior"])
    young_adult = np.where(u < 0.3, s["in_school"], adult)
    schooling = np.select(
        [age <= 5, age <= 17, age <= 22], [s["preschool"], pupil, young_adult], adult
    )
    return np.where(student, s["in_school"], schooling)


def _labour_capacity(rng, age, health, schooling, category) -> np.ndarray:
    """0 ordinary 1 skilled 2 weak 3 lost 4 none, from age, health and schooling."""
    s = {code: i for i, code in enumerate(SCHOOLINGS)}
    trained = np.isin(schooling, [s["vocational"], s["college"]])
    skilled = rng.random(len(age)) < np.where(trained, 0.55, 0.18)
    able = np.where(skilled, 1, 0)
    capacity = np.select(
        [
            (age < 16) | (schooling == s["in_school"]),
            health >= 2,
            age >= 75,
            (age >= 65) | (health == 1),
        ],
        [4, 3, 4, 2],
        able,
    )
    # 特困供养: no one in the household can work
    return np.where((category == "tekun") & (capacity <= 2), 3, capacity)


def draw_status(rng: np.random.Generator, profile: pd.DataFrame) -> None:
    """Add income_2015, status, exit_year and return_year following the seed-002 schedule.

    Households are ranked by an exit propensity (baseline income, labour, general category
    and safe housing help) and cut where the cumulative share of *people* reaches each
    year's target. Households still in dangerous houses stay poor but for a few exited on
    paper (``EXITED_IN_DANGER_SHARE``), which the inspection visits then find.
    """
    n = len(profile)
    labour = profile["labour_members"].to_numpy()
    supported = profile["category"].isin(["dibao", "tekun"]).to_numpy()
    baseline = rng.lognormal(np.log(3000), 0.22, n) * np.where(supported, 0.85, 1)
    profile["income_2015"] = np.clip(baseline, 1800, PROFILE_LINE - 20)
    dangerous = profile["housing_status"].str.startswith("dangerous").to_numpy()
    score = (
        rng.normal(0, 1, n)
        + 3.0 * (profile["income_2015"].to_numpy() / PROFILE_LINE - 0.75)
        + 1.0 * (labour > 0)
        + 0.4 * (profile["category"] == "general").to_numpy()
        - 4.0 * dangerous * (rng.random(n) > EXITED_IN_DANGER_SHARE)
        - 0.5 * profile["lacking"].to_numpy()
        - 0.3 * (profile["main_cause"] == "illness").to_numpy()
    )
    order = np.argsort(-score, kind="stable")
    people = np.cumsum(profile["members"].to_numpy()[order]) / profile["members"].sum()
    year_sorted = np.select(
        [people <= EXIT_CUMULATIVE[y] for y in (2016, 2017, 2018)], [2016, 2017, 2018], 0
    )
    exit_year = np.zeros(n, dtype=np.int64)
    exit_year[order] = year_sorted
    fragile = profile["main_cause"].isin(["illness", "disaster"]).to_numpy()
    p_return = RETURNED_SHARE * np.where(fragile, 1.6, 0.7) * (exit_year > 0) * (exit_year < 2018)
    returned = rng.random(n) < p_return
    return_year = np.where(returned, _uniform_int(rng, exit_year + 1, np.full(n, 2018)), 0)
    profile["status"] = np.select([returned, exit_year > 0], ["returned", "exited"], "poor")
    profile["exit_year"] = pd.Series(exit_year).where(exit_year > 0).astype("Int64").array
    profile["return_year"] = return_year


def draw_incomes(rng: np.random.Generator, profile: pd.DataFrame) -> np.ndarray:
    """Per-capita disposable income (yuan), shape (n, 4) for 2015..2018, with a few jumps.

    Needs ``draw_status`` first (baseline income, exit and return years).
    """
    n = len(profile)
    labour = profile["labour_members"].to_numpy() > 0
    exit_year = profile["exit_year"].fillna(0).to_numpy(dtype=np.int64)
    return_year = profile["return_year"].to_numpy()
    income = np.empty((n, len(INCOME_YEARS)))
    income[:, 0] = profile["income_2015"].to_numpy()
    for j, year in enumerate(INCOME_YEARS[1:], start=1):
        line = np.where(labour, EXIT_LINE_LABOUR[year], EXIT_LINE_NO_LABOUR[year])
        previous = income[:, j - 1]
        still_poor = np.minimum(previous * rng.uniform(1.08, 1.30, n), line * 0.97)
        exiting = line * rng.uniform(1.02, 1.25, n)
        after = previous * rng.uniform(1.03, 1.15, n)
        value = np.select(
            [exit_year == year, (exit_year > 0) & (exit_year < year)], [exiting, after], still_poor
        )
        falling = previous * np.where(
            return_year == year, rng.uniform(0.35, 0.7, n), rng.uniform(0.95, 1.08, n)
        )
        income[:, j] = np.where((return_year > 0) & (year >= return_year), falling, value)
    profile["income_jump"] = _add_implausible_jumps(rng, income)
    return np.round(income, 0)


def _add_implausible_jumps(rng: np.random.Generator, income: np.ndarray) -> np.ndarray:
    """~1 % of households get one year ×10 (a typed extra zero) or ×6–9 (paper exit);
    returns which (the planted income_jump cases)."""
    n = len(income)
    jumped = np.flatnonzero(rng.random(n) < 0.01)
    year = rng.integers(1, len(INCOME_YEARS), len(jumped))
    factor = np.where(rng.random(len(jumped)) < 0.5, 10.0, rng.uniform(6, 9, len(jumped)))
    income[jumped, year] *= factor
    planted = np.zeros(n, dtype=bool)
    planted[jumped] = True
    return planted


# --- names, ID numbers, phones (shared with geo.demo.province) ---


def _weighted(table: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    keys = np.array(list(table))
    p = np.array(list(table.values()), dtype=float)
    return keys, p / p.sum()


def surnames(rng: np.random.Generator, yao: np.ndarray) -> np.ndarray:
    """Surnames weighted by frequency; Yao surnames for most people in Yao areas."""
    common, common_p = _weighted(COMMON_SURNAMES)
    yao_names, yao_p = _weighted(YAO_SURNAMES)
    drawn = rng.choice(common, size=len(yao), p=common_p)
    use_yao = yao & (rng.random(len(yao)) < YAO_SHARE)
    drawn[use_yao] = rng.choice(yao_names, size=int(use_yao.sum()), p=yao_p)
    return drawn.astype(object)


def given_names(rng: np.random.Generator, male: np.ndarray) -> np.ndarray:
    """One or two characters from a male or female pool (two for ~75 %)."""
    n = len(male)
    men, women = np.array(list(MALE_CHARS)), np.array(list(FEMALE_CHARS))

    def one_char() -> np.ndarray:
        return np.where(
            male, men[rng.integers(0, len(men), n)], women[rng.integers(0, len(women), n)]
        )

    first, second = one_char(), one_char()
    second = np.where(rng.random(n) < 0.75, second, "")
    return np.char.add(first, second).astype(object)


def synthetic_names(rng: np.random.Generator, male: np.ndarray, yao: np.ndarray) -> np.ndarray:
    """Full names (surname + given name) for people of the given sex and area."""
    return surnames(rng, yao) + given_names(rng, male)


def _member_names(rng, hh, relation, male, yao) -> np.ndarray:
    """Names where children, grandchildren, siblings and parents mostly carry the head's surname."""
    family = surnames(rng, yao)
    head_surname = family[np.flatnonzero(relation == HEAD)][hh]
    kin = np.isin(relation, [CHILD, GRANDCHILD, SIBLING, PARENT]) & (rng.random(len(hh)) < 0.92)
    return np.where(kin, head_surname, family) + given_names(rng, male)


def id_numbers(
    rng: np.random.Generator, region: np.ndarray, birth_year: np.ndarray, male: np.ndarray
) -> np.ndarray:
    """Unique valid GB 11643 numbers: random birth day, sequence parity = sex (odd male)."""
    n = len(region)
    month = rng.integers(1, 13, n)
    leap = (birth_year % 4 == 0) & ((birth_year % 100 != 0) | (birth_year % 400 == 0))
    days_in_month = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[month - 1]
    days_in_month = days_in_month + ((month == 2) & leap)
    day = 1 + np.floor(rng.random(n) * days_in_month).astype(np.int64)
    seq = 2 * rng.integers(0, 500, n) + male
    numbers = idnumber.make_many(region, birth_year, month, day, seq)
    for _ in range(20):  # redraw the sequence of later duplicates until all are unique
        duplicated = pd.Series(numbers).duplicated().to_numpy()
        if not duplicated.any():
            break
        i = np.flatnonzero(duplicated)
        seq[i] = 2 * rng.integers(0, 500, len(i)) + male[i]
        numbers[i] = idnumber.make_many(region[i], birth_year[i], month[i], day[i], seq[i])
    return numbers.astype(object)


def phones(rng: np.random.Generator, n: int, share: float = 0.8) -> np.ndarray:
    """Mobile numbers 1[3-9]xxxxxxxxx for ``share`` of rows, None for the rest."""
    second = rng.choice(PHONE_SECOND_DIGIT, size=n, p=PHONE_SECOND_DIGIT_P)
    body = (1 * 10**10 + second * 10**9 + rng.integers(0, 10**9, n)).astype("U11")
    return np.where(rng.random(n) < share, body, None).astype(object)


# --- household, member and income frames ---


HOUSEHOLD_COLUMNS = [
    "id", "household_no", "village_code", "hamlet_id", "head_name", "id_number", "phone",
    "members", "labour_members", "category", "main_cause", "secondary_cause", "housing_status",
    "status", "exit_year", "cadre_id", "scattered", "registered_year", "version", "synthetic",
]  # fmt: skip
PROFILE_COLUMNS = ["members", "labour_members", "category", "main_cause", "secondary_cause",
                   "housing_status", "status", "exit_year"]  # fmt: skip
MEMBER_COLUMNS = ["id", "household_id", "name", "id_number", "relation", "sex", "birth_year",
                  "health", "labour_capacity", "schooling"]  # fmt: skip


def household_numbers(village_code: np.ndarray) -> np.ndarray:
    """Village code + 4-digit sequence within the village, in row order: 4418821012010001."""
    seq = pd.Series(village_code).groupby(village_code, sort=False).cumcount().to_numpy() + 1
    return np.char.add(village_code.astype(str), np.char.zfill(seq.astype(str), 4)).astype(object)


def _household_frame(rng, hh, profile, members, x, y) -> gpd.GeoDataFrame:
    """The household table (plus township_code for internal use), ids 1..n in number order."""
    heads = members[members["pos"] == 0]
    frame = pd.DataFrame(
        {
            "id": np.arange(1, len(hh) + 1),  # hh is in village/hamlet order already
            "household_no": household_numbers(hh["village_code"].to_numpy()),
            "village_code": hh["village_code"].to_numpy(),
            "hamlet_id": pd.array(hh["hamlet_id"], dtype="Int64"),
            "head_name": heads["name"].to_numpy(),
            "id_number": heads["id_number"].to_numpy(),
            "phone": phones(rng, len(hh)),
            "cadre_id": pd.array([pd.NA] * len(hh), dtype="Int64"),
            "scattered": ~hh["key"].to_numpy(),
            "registered_year": REGISTERED_YEAR,
            "version": 1,
            "synthetic": True,
            "township_code": hh["township_code"].to_numpy(),
            "geom": shapely.points(x, y),
        }
    )
    frame = pd.concat([frame, profile[PROFILE_COLUMNS]], axis=1)
    return gpd.GeoDataFrame(
        frame[[*HOUSEHOLD_COLUMNS, "township_code", "geom"]], geometry="geom", crs="EPSG:4326"
    )


def _member_frame(members: pd.DataFrame, households: pd.DataFrame) -> pd.DataFrame:
    out = members.assign(
        id=np.arange(1, len(members) + 1),
        household_id=households["id"].to_numpy()[members["hh"]],
    )
    return out[MEMBER_COLUMNS].reset_index(drop=True)


def _income_frame(incomes: np.ndarray, households: pd.DataFrame) -> pd.DataFrame:
    n, k = incomes.shape
    return pd.DataFrame(
        {
            "household_id": np.repeat(households["id"].to_numpy(), k),
            "year": np.tile(INCOME_YEARS, n),
            "per_capita_income": incomes.ravel(),
        }
    )


# --- cadres and work groups ---

CADRE_FIELDS = ["key", "name", "unit", "unit_level", "township_code"]
GROUP_MEMBER_FIELDS = ["work_group_id", "key", "role", "duty", "order"]


def _assign_cadres(rng, households, towns, vills):
    """Cadres, work groups and their members; sets households.cadre_id in place.

    ``cadres`` and ``roster`` collect tuples of CADRE_FIELDS and GROUP_MEMBER_FIELDS; cadres
    are keyed by text until they get their ids at the end.
    """
    cadres: list[tuple] = []
    roster: list[tuple] = []
    households["cadre_key"] = None
    village_name = vills.set_index("code")["name"]
    for group_id, town in enumerate(towns.itertuples(index=False), start=1):
        _township_cadres(rng, town, group_id, households, village_name, cadres, roster)
    updates = _key_village_cadres(rng, households, vills, towns, cadres, roster)
    frame = pd.DataFrame(cadres, columns=CADRE_FIELDS)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["phone"] = phones(rng, len(frame), share=0.97)
    frame["synthetic"] = True
    ids = frame.set_index("key")["id"]
    cover = households["cadre_key"].dropna()
    households.loc[cover.index, "cadre_id"] = ids.loc[cover].to_numpy()
    uncovered = households["scattered"] & (rng.random(len(households)) < UNCOVERED_SHARE)
    households.loc[uncovered, "cadre_id"] = pd.NA
    households.drop(columns=["cadre_key"], inplace=True)
    members = pd.DataFrame(roster, columns=GROUP_MEMBER_FIELDS)
    members["cadre_id"] = ids.loc[members.pop("key")].to_numpy()
    members = members.sort_values(["work_group_id", "order", "cadre_id"]).drop(columns="order")
    groups = pd.DataFrame(
        {
            "id": np.arange(1, len(towns) + 1),
            "township_code": towns["code"].to_numpy(),
            "name": (towns["name"] + "帮扶工作组").to_numpy(),
        }
    )
    columns = ["id", "name", "unit", "unit_level", "phone", "township_code", "synthetic"]
    return frame[columns], groups, members.reset_index(drop=True), updates


def _township_cadres(rng, town, group_id, households, village_name, cadres, roster):
    """Leader, deputy and the cadres covering the township's scattered households (分组包片)."""
    code, name = town.code, town.name
    level = "乡" if name.endswith("乡") else "镇"
    leader, deputy = synthetic_names(rng, rng.random(2) < 0.8, np.zeros(2, bool))
    cadres.append((f"{code}-leader", leader, f"中共{name}委员会", "township", code))
    cadres.append((f"{code}-deputy", deputy, f"{name}人民政府", "township", code))
    # seed 004: 组长 is the township Party secretary, plus one 副组长
    roster.append((group_id, f"{code}-leader", "leader", f"统筹全{level}扶贫工作", 0))
    roster.append((group_id, f"{code}-deputy", "deputy", "协助组长，负责日常工作和建档立卡", 1))
    scattered = np.flatnonzero(
        (households["township_code"] == code).to_numpy() & households["scattered"].to_numpy()
    )
    loads = _cadre_loads(rng, len(scattered))
    origin_p = SCATTERED_CADRE_ORIGIN_P
    origins = rng.choice(list(origin_p), size=len(loads), p=list(origin_p.values()))
    names = synthetic_names(rng, rng.random(len(loads)) < 0.7, np.zeros(len(loads), bool))
    owner = np.repeat(np.arange(len(loads)), loads)  # contiguous blocks: compact sectors
    households.loc[households.index[scattered], "cadre_key"] = [f"{code}-c{k}" for k in owner]
    villages = households["village_code"].to_numpy()[scattered]
    for k, (load, origin) in enumerate(zip(loads, origins, strict=True)):
        key = f"{code}-c{k}"
        cadres.append((key, names[k], *_unit_for(rng, origin, name), code))
        covered = "、".join(village_name.loc[pd.unique(villages[owner == k])])
        roster.append((group_id, key, "member", f"联系帮扶{covered}分散贫困户{load}户", 2))


def _unit_for(rng, origin: str, township_name: str) -> tuple[str, str]:
    """(unit, unit_level) of a cadre from the township, Lianzhou or Qingyuan."""
    if origin == "township":
        return f"{township_name}人民政府", "township"
    units = UNITS[origin]
    return units[rng.integers(len(units))], UNIT_LEVEL_OF[origin]


def _cadre_loads(rng: np.random.Generator, n: int) -> np.ndarray:
    """Households per cadre, each 5–13, summing to n; a short tail joins the previous one."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = HOUSEHOLDS_PER_CADRE
    loads = rng.integers(low, high + 1, n // low + 1)
    loads = loads[: np.searchsorted(np.cumsum(loads), n) + 1]
    loads[-1] -= loads.sum() - n
    if len(loads) > 1 and loads[-1] < low:
        if loads[-2] + loads[-1] <= MAX_HOUSEHOLDS_PER_CADRE:
            loads[-2] += loads[-1]
            loads = loads[:-1]
        else:  # even out the last two
            both = loads[-2] + loads[-1]
            loads[-2], loads[-1] = both - both // 2, both // 2
    return loads


def _helping_units(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """(unit, origin) for n key villages, split as in seed 001 and shuffled."""
    weights = np.array([w for _, w in HELPING_UNIT_SPLIT], dtype=float)
    quota = np.floor(n * weights / weights.sum()).astype(int)
    quota[np.argsort(-(n * weights / weights.sum() - quota))[: n - quota.sum()]] += 1
    pairs = []
    for (origin, _), k in zip(HELPING_UNIT_SPLIT, quota, strict=True):
        units = UNITS[origin]
        pairs += [(units[i % len(units)], origin) for i in range(k)]
    return [pairs[i] for i in rng.permutation(n)]


def _key_village_cadres(rng, households, vills, towns, cadres, roster) -> pd.DataFrame:
    """Helping unit, first secretary and covering cadres of every key village."""
    key_villages = vills[vills["key_level"].notna()].reset_index(drop=True)
    units = _helping_units(rng, len(key_villages))
    group_of = dict(zip(towns["code"], range(1, len(towns) + 1), strict=True))
    updates = []
    for v, (unit, origin) in zip(key_villages.itertuples(index=False), units, strict=True):
        idx = np.flatnonzero((households["village_code"] == v.code).to_numpy())
        loads = _cadre_loads(rng, len(idx))
        n_cadres = max(len(loads), 1)
        names = synthetic_names(rng, rng.random(n_cadres) < 0.7, np.zeros(n_cadres, bool))
        level = UNIT_LEVEL_OF[origin]
        # cadre 0 is the first secretary (seed 002 §19)
        cadres += [
            (f"{v.code}-k{k}", names[k], unit, level, v.township_code) for k in range(n_cadres)
        ]
        owner = np.repeat(np.arange(len(loads)), loads)
        households.loc[households.index[idx], "cadre_key"] = [f"{v.code}-k{k}" for k in owner]
        if origin in ("province", "guangzhou"):  # seed 004: 驻村工作队队长可视情参与
            duty = f"{v.name}驻村工作队队长、第一书记"
            roster.append((group_of[v.township_code], f"{v.code}-k0", "member", duty, 3))
        updates.append((v.code, unit, names[0]))
    return pd.DataFrame(updates, columns=["code", "helping_unit", "first_secretary"])


# --- help records and visits ---


def _measure_weights(households, profile, members) -> np.ndarray:
    """(n, 9) weights of the 九到户 measures fitting each household; housing handled apart."""
    n = len(households)
    labour = profile["labour_members"].to_numpy() > 0
    supported = profile["category"].isin(["dibao", "tekun"]).to_numpy()
    student = np.bincount(members["hh"], members["schooling"] == "in_school", minlength=n) > 0
    sick = np.bincount(members["hh"], members["health"] != "healthy", minlength=n) > 0
    general = (profile["category"] == "general").to_numpy()
    columns = {
        "policy": np.full(n, 0.6),
        "industry": np.where(labour, 1.5, 0.2),
        "employment": np.where(labour, 1.2, 0.1),
        "social_security": np.where(supported, 2.0, 0.3),
        "education": np.where(student, 2.0, 0.0),
        "medical": np.where(sick, 2.0, 0.3),
        "housing": np.zeros(n),
        "finance": np.where(labour & general, 0.6, 0.0),
        "asset_income": np.where(labour, 0.4, 1.0),
    }
    return np.column_stack([columns[m] for m in MEASURES])


def _help_records(rng, households, profile, members, cadres) -> pd.DataFrame:
    """帮扶记录簿: a 建档立卡 policy visit, then measures fitting the household, and a record
    at least every quarter while the household is still to help.

    Sets ``profile["neglected"]``: the households whose help goes unrecorded after the
    first visit — no cadre, a lazy cadre's, or ``NEGLECT_SHARE`` of the rest (the planted
    cases of the no_help_record, cadre_idle and exited_sanbaozhang flags).
    """
    n = len(households)
    cadre = households["cadre_id"].to_numpy(dtype=float, na_value=np.nan)
    lazy_cadres = cadres["id"].to_numpy()[rng.random(len(cadres)) < LAZY_CADRE_SHARE]
    lazy = np.isin(cadre, lazy_cadres)
    working = ~(np.isnan(cadre) | lazy) & (rng.random(n) > NEGLECT_SHARE)
    profile["neglected"] = ~working
    profile["lazy_cadre"] = lazy
    first = rng.integers(0, 59, n)  # the 建档立卡 visit: 2016-03..04
    weights = _measure_weights(households, profile, members)
    # measures fitting the household, anywhere in the book (the working households only)
    extra = np.where(working, np.minimum(rng.poisson(1.0, n), 4), 0)
    extra_hh = np.repeat(np.arange(n), extra)
    housing = np.flatnonzero(profile["was_dangerous"].to_numpy())  # 危房改造, by the county
    # 健康扶贫: a seriously ill member's insurance is paid at registration (seed 002)
    serious = np.bincount(members["hh"], members["health"] == "serious", minlength=n) > 0
    medical = np.flatnonzero(serious & working)
    quarterly_hh, quarterly_day = _quarterly_visits(rng, profile, first, working)
    span = (RECORD_END - RECORD_START).days
    hh = np.concatenate([np.arange(n), extra_hh, housing, medical, quarterly_hh])
    measure = np.concatenate(
        [
            np.full(n, MEASURES.index("policy")),
            pick_rows(rng, weights[extra_hh]),
            np.full(len(housing), MEASURES.index("housing")),
            np.full(len(medical), MEASURES.index("medical")),
            pick_rows(rng, weights[quarterly_hh]),
        ]
    )
    offset = np.concatenate(
        [
            first,
            rng.integers(30, span + 1, len(extra_hh) + len(housing)),
            first[medical],  # with the 建档立卡 visit
            quarterly_day,
        ]
    )
    codes = np.array(MEASURES)[measure]
    records = pd.DataFrame(
        {
            "household_id": households["id"].to_numpy()[hh],
            "date": np.datetime64(RECORD_START) + offset.astype("timedelta64[D]"),
            "cadre_id": households["cadre_id"].array.take(hh),
            "measure": codes,
            "note": _pick_notes(rng, codes),
            "amount": _amounts(rng, codes, profile["housing_status"].to_numpy()[hh]),
        }
    )
    has_cadre = records["cadre_id"].notna().to_numpy()
    sloppy = (rng.random(n) < SLOPPY_BOOK_SHARE)[hh] | lazy[hh]  # whole books go unsigned
    p_signed = np.where(sloppy, 0.55, 0.995)
    records["signed_household"] = rng.random(len(records)) < p_signed
    records["signed_village"] = rng.random(len(records)) < p_signed - 0.02
    records["signed_cadre"] = has_cadre & (rng.random(len(records)) < p_signed)
    records = records.sort_values(["household_id", "date", "measure"], kind="stable")
    records.insert(0, "id", np.arange(1, len(records) + 1))
    records["date"] = records["date"].dt.date
    return records.reset_index(drop=True)


def _quarterly_visits(rng, profile, first, working) -> tuple[np.ndarray, np.ndarray]:
    """(household, day offset) of the visits every ``QUARTERLY_DAYS`` after the first one,
    while the household is still to help: until the end of its exit year (不脱贫不脱钩,
    seed 003), to the end of the book for the poor and the returned (seed 001 每季)."""
    exit_year = profile["exit_year"].fillna(0).to_numpy(dtype=np.int64)
    open_ = profile["status"].isin(["poor", "returned"]).to_numpy()
    book_end = (OPEN_RECORD_END - RECORD_START).days
    year_end = np.array(
        [(dt.date(max(y, 2016), 12, 31) - RECORD_START).days for y in exit_year], dtype=np.int64
    )
    last = np.where(open_ | (exit_year == 0), book_end, year_end)
    visits = np.where(working, np.maximum((last - first) // QUARTERLY_DAYS[0], 0), 0)
    hh = np.repeat(np.arange(len(first)), visits)
    step = rng.integers(QUARTERLY_DAYS[0], QUARTERLY_DAYS[1] + 1, len(hh))
    total = np.cumsum(step)
    start = np.repeat(np.cumsum(visits) - visits, visits)  # each household's first visit
    before = np.where(start > 0, total[np.maximum(start - 1, 0)], 0)
    day = first[hh] + total - before
    keep = day <= last[hh]
    return hh[keep], day[keep]


def _pick_notes(rng, codes: np.ndarray) -> np.ndarray:
    notes = np.empty(len(codes), dtype=object)
    for measure, options in NOTES.items():
        i = np.flatnonzero(codes == measure)
        notes[i] = np.array(options, dtype=object)[rng.integers(0, len(options), len(i))]
    return notes


def _amounts(rng, codes: np.ndarray, housing_status: np.ndarray) -> np.ndarray:
    """Amounts in yuan per measure, rounded to the measure's step; NaN where none applies."""
    amount = np.full(len(codes), np.nan)
    for measure, (share, low, high, step) in AMOUNTS.items():
        i = np.flatnonzero(codes == measure)
        value = np.round(rng.uniform(low, high, len(i)) / step) * step
        amount[i] = np.where(rng.random(len(i)) < share, value, np.nan)
    pending = (codes == "housing") & np.char.startswith(housing_status.astype(str), "dangerous")
    amount[pending] = np.nan  # applied for, not yet built
    return amount


def _visits(rng, households, profile, incomes, records) -> gpd.GeoDataFrame:
    """Inspection visits in 2017–2018, exited households more often, GPS point near home."""
    n = len(households)
    exited = (profile["status"] == "exited").to_numpy()
    chosen = np.flatnonzero(rng.random(n) < VISITED_SHARE * np.where(exited, 1.3, 0.6))
    chosen = np.concatenate([chosen, chosen[rng.random(len(chosen)) < 0.2]])  # second visits
    result, findings = _visit_findings(rng, chosen, households, profile, incomes, records)
    day = rng.integers(0, (dt.date(2018, 12, 20) - dt.date(2017, 3, 1)).days, len(chosen))
    point = households.geometry.to_numpy()[chosen]
    dx, dy = rng.normal(0, 6, len(chosen)), rng.normal(0, 6, len(chosen))  # phone GPS error
    dlon, dlat = metres_to_degrees(dx, dy, shapely.get_y(point))
    inspector = np.array(INSPECTORS, dtype=object)[rng.integers(0, len(INSPECTORS), len(chosen))]
    visits = gpd.GeoDataFrame(
        {
            "household_id": households["id"].to_numpy()[chosen],
            "date": np.datetime64("2017-03-01") + day.astype("timedelta64[D]"),
            "inspector": inspector,
            "result": result,
            "findings": findings,
            "geom": shapely.points(shapely.get_x(point) + dlon, shapely.get_y(point) + dlat),
        },
        geometry="geom",
        crs="EPSG:4326",
    )
    visits = visits.sort_values(["household_id", "date"], kind="stable").reset_index(drop=True)
    visits.insert(0, "id", np.arange(1, len(visits) + 1))
    visits["date"] = visits["date"].dt.date
    return visits


def _visit_findings(rng, chosen, households, profile, incomes, records) -> tuple:
    """(result, findings) per visit: the data's real anomalies plus a few random issues."""
    exited = (profile["status"] == "exited").to_numpy()
    ratio = incomes[:, 1:] / np.maximum(incomes[:, :-1], 1)
    problems = {
        "uncovered": households["scattered"].to_numpy() & households["cadre_id"].isna().to_numpy(),
        "jump": (ratio > IMPLAUSIBLE_RATIO).any(axis=1),
        "dangerous": exited & profile["housing_status"].str.startswith("dangerous").to_numpy(),
        "unsigned": _unsigned(records, households),
    }
    found = [np.where(flag[chosen], FINDINGS[k], "") for k, flag in problems.items()]
    random_issue = np.array(FINDINGS["random"])[rng.integers(0, 4, len(chosen))]
    found.append(np.where(rng.random(len(chosen)) < 0.08, random_issue, ""))
    findings = np.array(["；".join(f for f in row if f) for row in zip(*found, strict=True)])
    absent = rng.random(len(chosen)) < 0.07
    result = np.where(absent, "absent", np.where(findings != "", "issues", "confirmed"))
    absent_note = np.array(ABSENT_FINDINGS)[rng.integers(0, len(ABSENT_FINDINGS), len(chosen))]
    findings = np.where(
        absent, absent_note, np.where(findings == "", "家庭情况与台账一致", findings)
    )
    return result, findings.astype(object)


def _unsigned(records: pd.DataFrame, households: pd.DataFrame) -> np.ndarray:
    """Households where over a fifth of the record book misses a signature."""
    signed = records["signed_household"] & records["signed_village"]
    signed &= records["signed_cadre"] | records["cadre_id"].isna()
    share = signed.groupby(records["household_id"]).mean()
    return households["id"].isin(share.index[share < 0.8]).to_numpy()
