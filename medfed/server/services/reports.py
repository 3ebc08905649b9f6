"""The PDF report of one prediction, drawn with reportlab (text, tables and a bar chart)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from medfed.core.catalog import DiseaseSpec
from medfed.server.services.predictions import PredictionResult

BRAND = colors.HexColor("#0b5c6b")
RAISES = colors.HexColor("#b42318")
DISCLAIMER = (
    "Decision support only. This estimate comes from a statistical model trained by a "
    "federation of hospitals; it is not a diagnosis. Interpret it with the full clinical "
    "picture, and confirm with the appropriate tests. The patient reference on this report was "
    "typed by the clinician and is not stored by MedFed."
)


@dataclass(frozen=True)
class ReportRequest:
    spec: DiseaseSpec
    result: PredictionResult
    patient_reference: str
    clinician: str
    created_at: datetime


def _factor_drawing(result: PredictionResult) -> Drawing:
    factors = list(reversed(result.top_factors))
    width, height = 170 * mm, 14 * mm + 9 * mm * max(1, len(factors))
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 62 * mm, 8 * mm
    chart.width, chart.height = width - 70 * mm, height - 14 * mm
    chart.data = [[f.shap for f in factors] or [0.0]]
    chart.categoryAxis.categoryNames = [f.label[:32] for f in factors] or ["(no factors)"]
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.labels.fontSize = 7
    chart.bars.strokeColor = None
    for index, factor in enumerate(factors):
        chart.bars[(0, index)].fillColor = RAISES if factor.shap > 0 else BRAND
    drawing.add(chart)
    drawing.add(
        String(
            62 * mm, 1 * mm, "Contribution to the log-odds (positive raises the risk)", fontSize=7
        )
    )
    return drawing


def _value_text(value: object, unit: str | None) -> str:
    if value is None:
        return "not given (assumed typical)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        value = f"{value:g}"
    return f"{value} {unit}".strip() if unit else str(value)


def render_pdf(request: ReportRequest) -> bytes:
    spec, result = request.spec, request.result
    styles = getSampleStyleSheet()
    title = ParagraphStyle("title", parent=styles["Title"], textColor=BRAND, alignment=0)
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=8, leading=10)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"MedFed {spec.title} risk report",
        author="MedFed",
    )
    header = Table(
        [
            ["Patient reference", request.patient_reference or "(none entered)"],
            ["Model", f"{spec.title} model version {result.model_version}"],
            ["Prediction", f"#{result.prediction_id}  ·  {request.created_at:%Y-%m-%d %H:%M} UTC"],
            ["Clinician", request.clinician],
        ],
        colWidths=[40 * mm, 134 * mm],
    )
    header.setStyle(
        TableStyle(
            [("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"), ("FONTSIZE", (0, 0), (-1, -1), 9)]
        )
    )
    outcome = (
        f"<b>{result.risk_band.capitalize()} risk</b>: {result.risk_wording} "
        f"Estimated probability of {spec.positive_label.lower()}: <b>{result.probability:.0%}</b>. "
        f"Confidence: {result.confidence_level} ({result.confidence:.0%})."
    )
    inputs = Table(
        [["Input", "Value"]]
        + [
            [f.label, _value_text(f.value, spec.feature(f.feature).unit)]
            for f in result.contributions
        ],
        colWidths=[90 * mm, 84 * mm],
        repeatRows=1,
    )
    inputs.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, BRAND),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f1f5f7")]),
            ]
        )
    )
    story = [
        Paragraph(f"{spec.title}: risk report", title),
        header,
        Spacer(1, 5 * mm),
        Paragraph("Result", styles["Heading2"]),
        Paragraph(outcome, styles["BodyText"]),
    ]
    story += [Paragraph(w, small) for w in result.warnings]
    story += [
        Paragraph("Explanation: key factors", styles["Heading2"]),
        _factor_drawing(result),
    ]
    story += [Paragraph("• " + f.text, styles["BodyText"]) for f in result.top_factors]
    story += [
        Paragraph("Inputs", styles["Heading2"]),
        inputs,
        Spacer(1, 6 * mm),
        Paragraph(DISCLAIMER, small),
    ]
    document.build(story)
    return buffer.getvalue()
