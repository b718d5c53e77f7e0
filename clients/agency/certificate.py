"""The certificate of criminal record as a PDF (reportlab), Albanian and English side by side.

It renders what the API returned, nothing else: the person's data come from the provider
through the API, never from the form.
"""

from __future__ import annotations

import datetime as dt
import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .strings import text

INK = colors.HexColor("#1d2a3a")
ACCENT = colors.HexColor("#b5121b")  # the red of the flag
STYLES = {
    "small": ParagraphStyle("small", fontName="Helvetica", fontSize=9, leading=12, textColor=INK),
    "agency": ParagraphStyle(
        "agency", fontName="Helvetica-Bold", fontSize=11, leading=14, textColor=INK
    ),
    "title": ParagraphStyle(
        "title", fontName="Helvetica-Bold", fontSize=22, leading=28, textColor=ACCENT
    ),
    "subtitle": ParagraphStyle(
        "subtitle", fontName="Helvetica-Oblique", fontSize=12, leading=16, textColor=INK
    ),
    "statement": ParagraphStyle(
        "statement", fontName="Helvetica-Bold", fontSize=14, leading=18, textColor=INK
    ),
    "body": ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=14, textColor=INK),
}


def render(certificate: dict) -> bytes:
    """The unsigned PDF of a certificate as the API returned it."""
    if certificate["convictions"]:
        raise ValueError("this demo renders only certificates without convictions")
    person = certificate["person"]
    name = f"{person['given_name']} {person['family_name']}".strip()
    issued = dt.datetime.fromisoformat(certificate["issued_at"])
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"{text('sq', 'pdf.title')} — {name}",
        author=text("sq", "agency"),
        subject=text("en", "pdf.title"),
    )
    fields = [
        ("name", name),
        ("nid", person["nid"]),
        ("birthdate", _date(person.get("birthdate"))),
        ("purpose", _both(f"purpose.{certificate['purpose']}")),
        ("issued_on", issued.strftime("%d.%m.%Y")),
        ("reference", certificate["reference"]),
    ]
    rows = [[_both(key), value] for key, value in fields]
    table = Table(rows, colWidths=[80 * mm, 90 * mm])
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (0, -1), "Helvetica", 9),
                ("FONT", (1, 0), (1, -1), "Helvetica-Bold", 11),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("LINEBELOW", (0, 0), (-1, -1), 0.5, colors.HexColor("#c8d0da")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    story = [
        Paragraph(_both("pdf.country"), STYLES["small"]),
        Paragraph(_both("agency"), STYLES["agency"]),
        Spacer(1, 12 * mm),
        Paragraph(text("sq", "pdf.title"), STYLES["title"]),
        Paragraph(text("en", "pdf.title"), STYLES["subtitle"]),
        Spacer(1, 8 * mm),
        table,
        Spacer(1, 10 * mm),
        Paragraph(text("sq", "pdf.statement"), STYLES["statement"]),
        Paragraph(text("en", "pdf.statement"), STYLES["subtitle"]),
        Spacer(1, 3 * mm),
        Paragraph(text("sq", "pdf.statement_detail"), STYLES["body"]),
        Paragraph(text("en", "pdf.statement_detail"), STYLES["body"]),
        Spacer(1, 16 * mm),
        Paragraph(text("sq", "pdf.seal"), STYLES["small"]),
        Paragraph(text("en", "pdf.seal"), STYLES["small"]),
        Spacer(1, 4 * mm),
        Paragraph(f"{text('sq', 'demo')} {text('en', 'demo')}", STYLES["small"]),
    ]
    document.build(story)
    return buffer.getvalue()


def filename(certificate: dict) -> str:
    """The download name: deshmia-e-penalitetit-<date of issue>.pdf."""
    issued = dt.datetime.fromisoformat(certificate["issued_at"])
    return f"deshmia-e-penalitetit-{issued:%Y-%m-%d}.pdf"


def _both(key: str) -> str:
    return f"{text('sq', key)} / {text('en', key)}"


def _date(iso_date: str | None) -> str:
    return dt.date.fromisoformat(iso_date).strftime("%d.%m.%Y") if iso_date else "—"
