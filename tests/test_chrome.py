"""Page chrome lines: dates, bylines, share rows, breadcrumbs; never a headline."""

import pytest

from clusterer.chrome import is_byline, is_chrome, is_date_line, parse_date
from clusterer.language import LanguageIdentifier
from clusterer.records import Record
from clusterer.segment import segment


@pytest.mark.parametrize(
    "line, iso",
    [
        ("26/05/2025 10:54 GMT+7", "2025-05-26"),
        ("Chủ Nhật, 10/09/2023", "2023-09-10"),
        ("Thứ Hai, 12/05/2025 - 14:03", "2025-05-12"),
        ("Published: 12 May 2025, 14:03", "2025-05-12"),
        ("Mis à jour le 3 mars 2024 à 10h15", "2024-03-03"),
        ("12.05.2025 | 14:03 Uhr", "2025-05-12"),
        ("2025年5月26日 10:54", "2025-05-26"),
        ("May 12, 2025", "2025-05-12"),
        ("05/13/2025", "2025-05-13"),  # month first where the day cannot be first
    ],
)
def test_date_lines_are_read(line, iso):
    assert is_date_line(line) and parse_date(line) == iso


@pytest.mark.parametrize(
    "line",
    [
        "The 2024 budget passed 51-49 on Tuesday",
        "Storm hits coast, 12 dead",
        "On 12 May 2025, the council voted.",
        "Ukraine war | live updates",
        "« Nous ne céderons pas », dit le ministre",
        "Por qué sube el precio del pan",
        "Mai Tien Dung meets Akimov",
    ],
)
def test_headlines_and_prose_are_not_chrome(line):
    assert not is_date_line(line) and not is_chrome(line) and not is_byline(line)


@pytest.mark.parametrize(
    "line",
    [
        "Home > World > Asia",
        "East Africa Daily | Business | Energy",
        "Share this article",
        "Facebook Twitter WhatsApp",
        "Print    Email    Share",
        "© 2025 Example News",
        "Advertisement",
        "Subscribe to our newsletter for the day's top stories",
        "Chia sẻ",
    ],
)
def test_chrome_lines(line):
    assert is_chrome(line)


@pytest.mark.parametrize(
    "line",
    ["By Jane Doe", "Par Jean Dupont, à Hanoï", "Phóng viên: Thu Hà", "Von Anna Müller, Berlin", "Di Marco Bianchi"],
)
def test_bylines(line):
    assert is_byline(line)


def test_page_opening_with_date_and_byline_keeps_its_headline_and_date():
    page = (
        "Thứ Hai, 26/05/2025 - 20:15\nPhóng viên: Thu Hà\nHai nước ký thỏa thuận kết nối lưới điện\n\n"
        "Ngày 26/5, hai nước đã ký thỏa thuận xây dựng đường dây truyền tải điện.\n\nChia sẻ\n"
    )
    [article] = segment(Record(id="p", text=page))
    assert article.title == "Hai nước ký thỏa thuận kết nối lưới điện"
    assert article.date == "2025-05-26"
    assert "Thu Hà" not in article.text and "Chia sẻ" not in article.text and "20:15" not in article.text


def test_language_of_a_page_is_that_of_its_prose_not_its_menus():
    page = (
        "English | Français | Deutsch | Español | 한국어 | 日本語 | Русский | Italiano | Português\n"
        "Home News Sport Weather Login Subscribe\n"
        "Die Bundesregierung hat am Mittwoch ein neues Klimapaket beschlossen."
    )
    assert LanguageIdentifier().detect(page) == "de"
