"""Page chrome: the lines a site puts around every article.

Scraped pages open with a breadcrumb, a date and time line ("26/05/2025 10:54
GMT+7", "Chủ Nhật, 10/09/2023"), a byline, share buttons, and close with
subscribe, copyright and advertising lines. None of them is the article: kept,
they make a date the story's title, make two pages of one site look alike and
two copies of one dispatch on two sites look different. Each test here looks
at one line, alone; :mod:`clusterer.segment` decides where they are dropped.
Pure: no I/O, no state.
"""

from __future__ import annotations

import re

CHROME_MAX_CHARS = 120

_MONTHS = {
    # en, fr, de, es, it, pt, nl: name (or its first letters) -> month number
    "jan": 1,
    "janv": 1,
    "janvier": 1,
    "januar": 1,
    "enero": 1,
    "gennaio": 1,
    "janeiro": 1,
    "januari": 1,
    "feb": 2,
    "févr": 2,
    "fevr": 2,
    "février": 2,
    "februar": 2,
    "febrero": 2,
    "febbraio": 2,
    "fevereiro": 2,
    "februari": 2,
    "mar": 3,
    "mars": 3,
    "märz": 3,
    "marzo": 3,
    "março": 3,
    "maart": 3,
    "apr": 4,
    "avr": 4,
    "avril": 4,
    "april": 4,
    "abril": 4,
    "aprile": 4,
    "may": 5,
    "mai": 5,
    "mayo": 5,
    "maggio": 5,
    "maio": 5,
    "mei": 5,
    "jun": 6,
    "juin": 6,
    "juni": 6,
    "junio": 6,
    "giugno": 6,
    "junho": 6,
    "jul": 7,
    "juil": 7,
    "juillet": 7,
    "juli": 7,
    "julio": 7,
    "luglio": 7,
    "julho": 7,
    "aug": 8,
    "août": 8,
    "aout": 8,
    "august": 8,
    "agosto": 8,
    "augustus": 8,
    "sep": 9,
    "sept": 9,
    "septembre": 9,
    "september": 9,
    "septiembre": 9,
    "settembre": 9,
    "setembro": 9,
    "oct": 10,
    "octobre": 10,
    "oktober": 10,
    "octubre": 10,
    "ottobre": 10,
    "outubro": 10,
    "nov": 11,
    "novembre": 11,
    "november": 11,
    "noviembre": 11,
    "novembro": 11,
    "dec": 12,
    "déc": 12,
    "dez": 12,
    "décembre": 12,
    "decembre": 12,
    "dezember": 12,
    "diciembre": 12,
    "dicembre": 12,
    "dezembro": 12,
    "december": 12,
    "january": 1,
    "february": 2,
    "march": 3,
    "june": 6,
    "july": 7,
    "october": 10,
}
# words a date or time line may carry besides the date itself
_DATE_WORDS = {
    # weekdays
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonntag",
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
    "lunedì",
    "martedì",
    "mercoledì",
    "giovedì",
    "venerdì",
    "sabato",
    "domenica",
    "thứ",
    "hai",
    "ba",
    "tư",
    "năm",
    "sáu",
    "bảy",
    "chủ",
    "nhật",
    # clock and zone
    "gmt",
    "utc",
    "cet",
    "cest",
    "est",
    "edt",
    "pst",
    "pdt",
    "am",
    "pm",
    "h",
    "uhr",
    "giờ",
    # "published", "updated" ...
    "published",
    "updated",
    "posted",
    "last",
    "on",
    "at",
    "publié",
    "le",
    "mis",
    "à",
    "jour",
    "modifié",
    "veröffentlicht",
    "aktualisiert",
    "um",
    "publicado",
    "actualizado",
    "el",
    "pubblicato",
    "aggiornato",
    "il",
    "alle",
    "atualizado",
    "em",
    "às",
    "cập",
    "ngày",
    "lúc",
    "đăng",
    "date",
    "time",
    "de",
    "del",
    "du",
    "of",
}
_TOKEN = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_NUMERIC_DATE = re.compile(r"\b(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})\b")
_CJK_DATE = re.compile(r"(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]?")
_WORD_DATE = re.compile(
    r"\b(\d{1,2})\.?\s+([^\W\d_]{3,10})\.?,?\s+(\d{4})\b|"
    r"\b([^\W\d_]{3,10})\.?\s+(\d{1,2}),?\s+(\d{4})\b",
    re.UNICODE,
)

_BYLINE = re.compile(
    r"^\s*(?:by|written by|reported by|par|von|por|di|door|af|av|автор|tác giả|phóng viên|"
    r"reporter|correspondent|correspondant|envoyé spécial|redacción|redazione|redaktion)\b"
    r"\s*[:：]?\s*(?P<names>[^,;|–—(]*)",
    re.IGNORECASE,
)
_NAME_JOINERS = {"de", "da", "di", "van", "von", "der", "le", "la", "and", "et", "und", "y", "e", "&", "bin"}
_CHROME_LINE = re.compile(
    r"^\s*(?:share(?: (?:this|on)\b.*)?|share this (?:article|story)|tweet|e-?mail|print|copy link|"
    r"chia sẻ|partager|teilen|compartir|condividi|compartilhe|поделиться|分享|"
    r"follow us\b.*|suivez-nous\b.*|subscribe\b.*|sign up\b.*|abonnez-vous\b.*|newsletter|"
    r"advertisement|advertising|quảng cáo|publicité|anzeige|werbung|publicidad|pubblicità|реклама|广告|"
    r"listen(?: to this article)?|écouter|font size|text size|cỡ chữ|"
    r"(?:©|copyright|\(c\))\s*.*|all rights reserved\.?|tous droits réservés\.?|"
    r"alle rechte vorbehalten\.?|todos los derechos reservados\.?)\s*$",
    re.IGNORECASE,
)
_BREADCRUMB = re.compile(r"^\s*[^\n>»›]{1,30}(?:\s*[>»›]\s*[^\n>»›]{1,30}){1,6}\s*$")
_SECTION_ROW = re.compile(r"^\s*[^\n|]{1,30}(?:\s+\|\s+[^\n|]{1,30}){2,8}\s*$")  # "Site | Business | Energy"
_SHARE_ROW = {
    "facebook",
    "twitter",
    "x",
    "whatsapp",
    "telegram",
    "linkedin",
    "email",
    "e-mail",
    "zalo",
    "messenger",
    "reddit",
    "pinterest",
    "print",
    "copy",
    "link",
    "share",
    "vk",
}


def _words(line: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(line)]


def is_date_line(line: str) -> bool:
    """A line that is only a date and/or time ("26/05/2025 10:54 GMT+7",
    "Chủ Nhật, 10/09/2023", "Published: 12 May 2025, 14:03")."""
    if not line or len(line) > CHROME_MAX_CHARS:
        return False
    tokens = _words(line)
    if not any(t.isdigit() for t in tokens):
        return False
    if _CJK_DATE.search(line):
        rest = _CJK_DATE.sub(" ", line)
        tokens = _words(rest)
    return all(t.isdigit() or t in _DATE_WORDS or t in _MONTHS for t in tokens) and bool(
        parse_date(line) or re.search(r"\d{1,2}[:h]\d{2}", line)
    )


def parse_date(line: str) -> str | None:
    """The ISO date (YYYY-MM-DD) a date line gives, or None. Day first where a
    numeric date is ambiguous (most of the world writes 05/06 for 5 June)."""
    m = _CJK_DATE.search(line)
    if m:
        return _iso(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _NUMERIC_DATE.search(line)
    if m:
        a, b, c = (int(x) for x in m.groups())
        if len(m.group(1)) == 4:
            return _iso(a, b, c)
        if len(m.group(3)) == 4:
            first, second = (b, a) if b > 12 >= a else (a, b)  # (day, month)
            return _iso(c, second, first)
        return None
    w = _WORD_DATE.search(line)
    if w:
        day, name, year = w.group(1, 2, 3) if w.group(1) else (w.group(5), w.group(4), w.group(6))
        month = _MONTHS.get(name.lower().rstrip("."))
        if month:
            return _iso(int(year), month, int(day))
    return None


def _iso(year: int, month: int, day: int) -> str | None:
    if not (1900 <= year <= 2200 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def is_byline(line: str) -> bool:
    """ "By Jane Doe", "Par Jean Dupont, à Hanoï", "Phóng viên: Thu Hà": a
    byline word, then one to five names (a headline such as "Por qué sube el
    pan" is not one)."""
    if not line or len(line) > 80 or line[-1] in ".!?":
        return False
    m = _BYLINE.match(line)
    if not m:
        return False
    names = m.group("names").split()
    return 1 <= len(names) <= 5 and all(w[0].isupper() or w.lower() in _NAME_JOINERS for w in names)


REPORTER_MAX_CHARS = 80
_REPORTER_LINE = re.compile(
    r"^\s*(?:phóng viên|pv|nhóm pv|reporter|correspondent|correspondant|envoyé spécial|"
    r"by|par|von|por|de notre correspondant)\b",
    re.IGNORECASE,
)


def is_closing_byline(line: str) -> bool:
    """A byline as pages end with one: :func:`is_byline`, a name in capitals
    ("QUẾ ANH"), or a reporter line ("Phóng viên Báo Nhân Dân thường trú tại LB Nga")."""
    if is_byline(line):
        return True
    if len(line) > REPORTER_MAX_CHARS or line[-1] in ".;:,":
        return False
    letters = [ch for ch in line if ch.isalpha()]
    if letters and line.isupper() and len(line.split()) <= 5 and len(letters) >= 2:
        return True
    return bool(_REPORTER_LINE.match(line)) and len(line.split()) <= 12


def is_chrome(line: str) -> bool:
    """Share, subscribe, advertising, copyright lines, a row of share buttons,
    a breadcrumb ("Home > World > Asia")."""
    if not line or len(line) > CHROME_MAX_CHARS:
        return False
    if _CHROME_LINE.match(line):
        return True
    words = _words(line)
    if words and all(w in _SHARE_ROW for w in words) and len(words) >= 2:
        return True
    return (
        bool(_BREADCRUMB.match(line)) and "«" not in line or bool(_SECTION_ROW.match(line))
    ) and not line.rstrip().endswith((".", "!", "?"))
