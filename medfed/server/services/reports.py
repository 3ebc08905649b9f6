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
from medfed.ml.narrate import describe_value
from medfed.server.services.predictions import PredictionResult

BRAND = colors.HexColor("#0b5c6b")
RAISES = colors.HexColor("#b42318")
FONT = "Helvetica"  # the report's body font (reportlab's sample style sheet), in the chart too
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
    similar_patients: str  # what estimates like this one meant for held-out patients


def _factor_drawing(result: PredictionResult) -> Drawing:
    factors = list(reversed(result.top_factors))
    width, height = 170 * mm, 14 * mm + 9 * mm * max(1, len(factors))
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 62 * mm, 8 * mm
    chart.width, chart.height = width - 70 * mm, height - 14 * mm
    values = [f.shap for f in factors] or [0.0]
    reach = max(0.1, *(abs(v) for v in values)) * 1.1
    chart.data = [values]
    # The labels stand left of the plot, not on the zero line where negative bars are drawn.
    chart.categoryAxis.joinAxisMode = "left"
    chart.categoryAxis.categoryNames = [f.label[:40] for f in factors] or ["(no factors)"]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.valueMin, chart.valueAxis.valueMax = -reach, reach
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = "%+.1f"
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = colors.HexColor("#d5dde4")
    chart.bars.strokeColor = None
    for index, factor in enumerate(factors):
        chart.bars[(0, index)].fillColor = RAISES if factor.shap > 0 else BRAND
    drawing.add(chart)
    drawing.add(
        String(
            62 * mm,
            1 * mm,
            "Contribution to the log-odds (right of zero raises the risk, left lowers it)",
            fontName=FONT,
            fontSize=7,
        )
    )
    return drawing


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
    band = spec.band_named(result.risk_band)
    if result.class_probabilities:
        chances = ", ".join(f"{label} {p:.0%}" for label, p in result.class_probabilities.items())
        estimate = f"Most likely class: <b>{result.predicted_label}</b> ({chances}). "
    else:
        estimate = f"Estimated probability of {spec.condition}: <b>{result.probability:.0%}</b>. "
    outcome = f"<b>{band.title}.</b> {band.advice} {estimate}{request.similar_patients}"
    inputs = Table(
        [["Input", "Value"]]
        + [
            [
                f.label,
                "not given (assumed typical)"
                if f.value is None
                else describe_value(spec.feature(f.feature), f.value),
            ]
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
