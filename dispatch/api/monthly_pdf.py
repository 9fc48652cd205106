"""The monthly report as a PDF the care bureau files: an HTML page laid out by
WeasyPrint (Pango draws the Chinese with the system's CJK font, embedded), with the
trend charts the page shows (dispatch/api/monthly_charts.py)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from dispatch.api.monthly_charts import CHARTED, SHARES, TARGETS, trend_svg
from dispatch.domain.catalog import ClosureCode

PDF_TYPE = "application/pdf"

# Each KPI's name, in the report's order (within_15_min is not charted: it is as
# staffed now, for the report's month only).
ROWS = (
    "answered_within_60s",
    "reached_by_deadline",
    "within_15_min",
    "visit_coverage",
    "satisfaction_mean",
    "false_alarm_rate",
    "device_availability",
    "alerts",
)
TEXT: Mapping[str, Mapping[str, str]] = {
    "zh-CN": {
        "title": "居家养老应急呼叫服务月报",
        "city": "全市",
        "made": "生成时间",
        "kpi": "指标",
        "this": "本月",
        "previous": "上月",
        "target": "目标",
        "basis": "依据",
        "answered_within_60s": "60 秒内接听率",
        "reached_by_deadline": "按时到达率",
        "within_15_min": "15 分钟服务圈覆盖率",
        "visit_coverage": "特殊困难老人月度探访率",
        "satisfaction_mean": "回访满意度（1–5 分）",
        "false_alarm_rate": "误报率",
        "device_availability": "设备在线率",
        "alerts": "报警数（不含测试）",
        "basis.answered_within_60s": "报警 {alerts} 起",
        "basis.reached_by_deadline": "派员 {caregiver_sent} 起",
        "basis.within_15_min": "按当前人员驻点与出行方式",
        "basis.visit_coverage": "应探访 {visit_elders} 人",
        "basis.satisfaction_mean": "评分 {follow_ups_rated} 次",
        "basis.false_alarm_rate": "已结案 {closed} 起",
        "basis.device_availability": "按离线报警时长",
        "basis.alerts": "",
        "codes": "结案原因",
        "code": "结案代码",
        "count": "起数",
        "share": "占比",
        "no_codes": "本月无结案报警。",
        "trend": "近六个月趋势",
        "none": "—",
        "notes": (
            "说明：接听按看板规则计（能通话的设备以接通语音为准，其余以话务员确认或护理员接单为准）；"
            "按时到达指护理员在时限内到场；误报指以误报、误按、设备故障结案；"
            "设备在线率按“设备离线”报警从产生到恢复的时长计；"
            "15 分钟服务圈按出行模型计算在岗护理员从驻点（无驻点则住所）出发"
            "15 分钟内可达的老人占比。"
        ),
    },
    "en": {
        "title": "Monthly report: emergency calls and home care",
        "city": "Whole city",
        "made": "Made",
        "kpi": "Measure",
        "this": "This month",
        "previous": "Last month",
        "target": "Target",
        "basis": "Counted over",
        "answered_within_60s": "Answered within 60 s",
        "reached_by_deadline": "Reached by the deadline",
        "within_15_min": "Elders within the 15-minute circle",
        "visit_coverage": "Monthly visits, special-difficulty elders",
        "satisfaction_mean": "Follow-up satisfaction (1-5)",
        "false_alarm_rate": "False-alarm rate",
        "device_availability": "Device availability",
        "alerts": "Alerts (tests left out)",
        "basis.answered_within_60s": "{alerts} alerts",
        "basis.reached_by_deadline": "{caregiver_sent} with a caregiver sent",
        "basis.within_15_min": "as staffed now, from stations or homes",
        "basis.visit_coverage": "{visit_elders} elders due",
        "basis.satisfaction_mean": "{follow_ups_rated} ratings",
        "basis.false_alarm_rate": "{closed} closed",
        "basis.device_availability": "from device-offline alerts",
        "basis.alerts": "",
        "codes": "Closure codes",
        "code": "Code",
        "count": "Alerts",
        "share": "Share",
        "no_codes": "No alert was closed this month.",
        "trend": "The last six months",
        "none": "–",
        "notes": (
            "Answered: the board's rule (a connected call for a device that talks; an "
            "operator's acknowledgement or a caregiver's accept otherwise). Reached: a "
            "caregiver on scene by the deadline. False alarms: closed as false alarm, "
            "accidental press or device fault. Device availability: the time between each "
            '"device offline" alert and its device being heard from again. The 15-minute '
            "circle: the share of elders some active caregiver reaches within 15 minutes "
            "from a station (else home) by the travel model."
        ),
    },
}

CSS = """
@page { size: A4; margin: 16mm 15mm 18mm;
  @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt; color: #666; } }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", sans-serif;
  font-size: 9.5pt; color: #1d1d1d; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
h2 { font-size: 11.5pt; margin: 6mm 0 2mm; border-bottom: 1px solid #1f5fa8; padding-bottom: 1mm; }
.meta { color: #555; margin: 0 0 4mm; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 1.6mm 2mm; border-bottom: 1px solid #ddd; }
th { background: #eef3fa; font-weight: bold; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.now { font-weight: bold; font-size: 11pt; }
td.miss { color: #b3261e; }
h2 { break-after: avoid; }
/* Inline blocks, two to a row: WeasyPrint breaks pages inside flex boxes badly. */
figure { display: inline-block; vertical-align: top; width: 84mm; margin: 0 0 3mm;
  break-inside: avoid; }
figure:nth-child(odd) { margin-right: 3mm; }
figcaption { font-weight: bold; margin-bottom: 1mm; }
figure img { width: 84mm; }
.notes { color: #555; font-size: 8pt; margin-top: 4mm; }
"""


def _shown(key: str, value: Any, none: str) -> str:
    if value is None:
        return none
    if key in SHARES or key == "within_15_min":
        return f"{float(value) * 100:.1f}%"
    if key == "satisfaction_mean":
        return f"{float(value):.2f}"
    return str(value)


def _kpi_rows(figures: Mapping[str, Any], text: Mapping[str, str]) -> str:
    k = figures["kpis"]
    trend: Sequence[Mapping[str, Any]] = figures["trend"]
    before = trend[-2] if len(trend) > 1 else {}
    rows = []
    for key in ROWS:
        target = TARGETS.get(key)
        missed = target is not None and k.get(key) is not None and k[key] < target
        now = _shown(key, k.get(key), text["none"])
        rows.append(
            "<tr>"
            f"<td>{escape(text[key])}</td>"
            f'<td class="num now{" miss" if missed else ""}">{now}</td>'
            f'<td class="num">{_shown(key, before.get(key), text["none"])}</td>'
            f'<td class="num">{_shown(key, target, "")}</td>'
            f"<td>{escape(text['basis.' + key].format(**k))}</td>"
            "</tr>"
        )
    return "".join(rows)


def _code_rows(
    figures: Mapping[str, Any], codes: Mapping[str, ClosureCode], lang: str, text: Mapping[str, str]
) -> str:
    by_code: Mapping[str, int] = figures["kpis"]["closed_by_code"]
    closed = sum(by_code.values())
    if not closed:
        return f'<tr><td colspan="3">{escape(text["no_codes"])}</td></tr>'
    rows = []
    for code, n in sorted(by_code.items(), key=lambda item: (-item[1], item[0])):
        known = codes.get(code)
        label = (known.label_zh if lang == "zh-CN" else known.label_en) if known else code
        rows.append(
            f"<tr><td>{escape(label)} <small>({escape(code)})</small></td>"
            f'<td class="num">{n}</td><td class="num">{n / closed * 100:.1f}%</td></tr>'
        )
    return "".join(rows)


def _charts(figures: Mapping[str, Any], text: Mapping[str, str]) -> str:
    out = []
    for key in CHARTED:
        svg = base64.b64encode(trend_svg(figures["trend"], key).encode()).decode()
        out.append(
            f"<figure><figcaption>{escape(text[key])}</figcaption>"
            f'<img src="data:image/svg+xml;base64,{svg}" alt=""></figure>'
        )
    return "".join(out)


def report_html(
    figures: Mapping[str, Any],
    *,
    lang: str,
    made_at: datetime,
    codes: Mapping[str, ClosureCode],
) -> str:
    """The report as one HTML document (what WeasyPrint lays out)."""
    text = TEXT[lang]
    area = figures["district"] or text["city"]
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><style>{CSS}</style></head><body>
<h1>CareBell · {escape(text["title"])}</h1>
<p class="meta">{escape(figures["month"])} · {escape(area)} ·
 {escape(text["made"])} {made_at.strftime("%Y-%m-%d %H:%M")} ({escape(figures["timezone"])})</p>
<table>
<thead><tr><th>{text["kpi"]}</th><th>{text["this"]}</th><th>{text["previous"]}</th>
<th>{text["target"]}</th><th>{text["basis"]}</th></tr></thead>
<tbody>{_kpi_rows(figures, text)}</tbody></table>
<h2>{escape(text["codes"])}</h2>
<table><thead><tr><th>{text["code"]}</th><th>{text["count"]}</th><th>{text["share"]}</th></tr></thead>
<tbody>{_code_rows(figures, codes, lang, text)}</tbody></table>
<h2>{escape(text["trend"])}</h2>
<div class="charts">{_charts(figures, text)}</div>
<p class="notes">{escape(text["notes"])}</p>
</body></html>"""


def render_pdf(
    figures: Mapping[str, Any],
    *,
    lang: str,
    made_at: datetime,
    codes: Mapping[str, ClosureCode],
) -> bytes:
    """The monthly report (as GET /monthly answers it) as PDF bytes."""
    from weasyprint import HTML  # loads Pango on first use, not at the server's start

    html = report_html(figures, lang=lang, made_at=made_at, codes=codes)
    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
