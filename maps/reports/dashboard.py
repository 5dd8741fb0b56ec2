"""The dashboard page: a shell like the web map's (a browser cannot send a bearer token when
it navigates), filled by ``/static/reports/dashboard.js`` with the caller's token from the same
login as the web map. Offline: no CDN, the charts are SVG drawn by the script.

Per township or county (the caller's scope and below): households by status at each month's
end, exits per month against the year's target, flags by kind, and links into the web map
(``/townships/{code}``), the flag list (``/flags``) and the monthly report (XLSX/PDF).
"""

from __future__ import annotations

import html

from geo import vocab
from geo.flags import FLAG_KINDS
from maps.webmap import json_for_script

PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · 监测看板</title>
<link rel="stylesheet" href="/static/reports/dashboard.css">
</head>
<body>
<header>
  <h1>{title} · 扶贫监测看板</h1>
  <span class="note">{note}</span>
  <span id="gj-who"></span>
</header>
<main>
  <section id="gj-login" hidden>
    <form><input id="gj-token" type="password" placeholder="访问令牌 token" autocomplete="off">
    <button>登录</button></form><p id="gj-login-message"></p>
  </section>
  <section id="gj-board" hidden>
    <nav>
      <label>地区 <select id="gj-area"></select></label>
      <label>起 <input id="gj-start" type="month"></label>
      <label>止 <input id="gj-end" type="month"></label>
      <button id="gj-refresh">刷新</button>
      <span id="gj-links"></span>
    </nav>
    <div class="cards" id="gj-cards"></div>
    <div class="charts">
      <figure><figcaption>月末户数（按状态）</figcaption><div id="gj-status"></div></figure>
      <figure><figcaption>每月脱贫人数与本年累计（对照年度目标）</figcaption>
        <div id="gj-exits"></div></figure>
      <figure><figcaption>预警（按类型，gongjian flags 最近结果）</figcaption>
        <div id="gj-flags"></div></figure>
    </div>
  </section>
</main>
<script type="application/json" id="gj-dashboard-config">{config}</script>
<script src="/static/reports/dashboard.js"></script>
</body>
</html>
"""


def dashboard_html(title: str = "攻坚图", note: str = "") -> str:
    """The page; labels travel in a small JSON config so the script has no Chinese literals.

    ``note`` is 示例数据（合成） while synthetic data is loaded (the dataset registry), else "".
    """
    config = {
        "kinds": FLAG_KINDS,
        "status": vocab.STATUS,
        "note": note,
    }
    return PAGE.format(
        title=html.escape(title),
        note=html.escape(note),
        config=json_for_script(config),
    )
