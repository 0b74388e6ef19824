"""Splitting one raw page into its article and its teasers.

A scraped page carries furniture around the article: a leading ``date 2018-12``
line, photo captions, a source line with a URL, a reporter's name, and a block
of teasers for other stories after a marker such as "Voir plus" or "Read more".
:func:`segment` returns the cleaned article as one :class:`Item` (kind
``ARTICLE``) and each teaser as its own Item (kind ``TEASER``), so that
teasers are never mistaken for part of the article. Pure: no I/O, no state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .chrome import is_byline, is_chrome, is_closing_byline, is_date_line, parse_date
from .records import ARTICLE, TEASER, Item, Record, teaser_id

# Lines that open a block of teasers (compared lower-cased, without a final colon).
TEASER_MARKERS = frozenset(
    {
        # fr
        "voir plus",
        "voir aussi",
        "lire aussi",
        "à lire aussi",
        "a lire aussi",
        "lire la suite",
        "sur le même sujet",
        "articles liés",
        "articles similaires",
        "dans la même rubrique",
        # vi
        "xem thêm",
        "tin liên quan",
        "bài liên quan",
        "tin cùng chuyên mục",
        "đọc thêm",
        # en
        "read more",
        "read also",
        "related",
        "related articles",
        "related news",
        "related stories",
        "related content",
        "see also",
        "more stories",
        "more news",
        "you may also like",
        "recommended",
        "also read",
        # de
        "mehr zum thema",
        "lesen sie auch",
        "auch interessant",
        "das könnte sie auch interessieren",
        # es / pt / it
        "leer más",
        "lee también",
        "ver también",
        "ver más",
        "noticias relacionadas",
        "leia também",
        "leia mais",
        "veja também",
        "notícias relacionadas",
        "leggi anche",
        "articoli correlati",
        # ru / uk / zh / ja
        "читайте также",
        "смотрите также",
        "по теме",
        "читайте також",
        "相关新闻",
        "相关阅读",
        "相关文章",
        "延伸阅读",
        "関連記事",
    }
)

HEADLINE_MAX_CHARS = 160
HEADLINE_MAX_WORDS = 30
CAPTION_MAX_CHARS = 400
CAPTION_START_MAX_CHARS = 150  # "Photo: X" glued to a long paragraph is kept
SOURCE_NO_URL_MAX_CHARS = 80

_DATE_LINE = re.compile(r"^\s*date\s*:?\s+(\d{4}(?:-\d{2}(?:-\d{2})?)?)\b\s*(.*)$", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_BARE_URL_LINE = re.compile(r"^\s*<?(https?://\S+?)>?\s*$", re.IGNORECASE)
_SOURCE_LINE = re.compile(
    r"^\s*(?:nguồn|source|sources|quelle|fuente|fonte|источник|来源|出典)\b[^:：]{0,40}[:：]\s*(.*)$", re.IGNORECASE
)
# "... ảnh 1Lors de ..." (Vietnamese image placeholder), "... Photo : VNA",
# "(Photo: Reuters)", "Ảnh: TTXVN", "- Photo : VGP", "(Source: VNA)" at the end.
_CAPTION_PLACEHOLDER = re.compile(r"\bảnh\s*\d+", re.IGNORECASE)
_CAPTION_CREDIT = re.compile(
    r"(?:^|[\s.(\[–—-])(?:photo|photos|ảnh|foto|fotos|image|crédit photo|photo credit|фото|图)"
    r"\s*[:：]\s*[^.:]{0,60}?[)\]]?\s*$",
    re.IGNORECASE,
)
_CAPTION_START = re.compile(r"^\s*[(\[]?(?:photo|ảnh|foto|image|фото)\s*[:：]", re.IGNORECASE)
_CAPTION_SOURCE_TAIL = re.compile(r"\((?:source|nguồn)\s*[:：][^()]{0,60}\)\s*$", re.IGNORECASE)
_INLINE_RELATED = re.compile(r"^\s*([^:：]{2,30})\s*[:：]\s*\S")
_BULLET = re.compile(r"^\s*(?:[-–—•*·▪►>»]|\d{1,2}[.)])\s+")
_FINAL_PUNCT = ".,;:…"
_BLANKS = re.compile(r"\t[ \t]*| [ \t]+")  # a run of blanks but a lone space (each branch led by a literal: fast)


def segment(record: Record) -> list[Item]:
    """Split ``record`` into its article Item followed by its teaser Items.

    The article has ``id == doc == record.id``; teasers are
    ``<doc>#teaser-<k>`` with k from 1 in page order. Date, URL and title
    given on the record win over what the page text yields.
    """
    lines = _normalise(record.text)
    date, lines = _take_date(lines)
    marker = _find_marker(lines)
    body = lines if marker is None else lines[:marker]
    furniture = [] if marker is None else lines[marker + 1 :]

    body, url, dated = _clean_body(body)
    date = date or dated
    found_title = _leading_headline(body)
    article = Item(
        id=record.id,
        doc=record.id,
        kind=ARTICLE,
        text=_join(body),
        title=record.title or found_title,
        lang=record.lang,
        date=record.date or date,
        url=record.url or url,
        source=record.source,
    )
    items = [article]
    for k, teaser in enumerate(_split_teasers(furniture), start=1):
        items.append(
            Item(
                id=teaser_id(record.id, k),
                doc=record.id,
                kind=TEASER,
                text=teaser.text(),
                title=teaser.headline,
                lang=record.lang,
                source=record.source,
            )
        )
    return items


# --- lines -------------------------------------------------------------------


def _normalise(text: str) -> list[str]:
    """The lines of ``text``, each stripped, with every run of spaces and tabs one space."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u200b", "").replace("\ufeff", "")
    if "  " in text or "\t" in text:  # (most pages have neither: no pass of the pattern)
        text = _BLANKS.sub(" ", text)
    return [line.strip() for line in text.split("\n")]


def _join(lines: list[str]) -> str:
    """Non-empty lines as paragraphs separated by one blank line."""
    return "\n\n".join(line for line in lines if line)


def _take_date(lines: list[str]) -> tuple[str | None, list[str]]:
    """Find a leading ``date YYYY-MM`` line; drop it (and a caption glued to it)."""
    for i, line in enumerate(lines):
        if not line:
            continue
        match = _DATE_LINE.match(line)
        if not match:
            return None, lines
        rest = match.group(2).strip()
        # On scraped pages the lead photo's caption follows the date.
        keep = [] if not rest or is_caption(rest) or rest[-1] in _FINAL_PUNCT + ")" else [rest]
        return match.group(1), lines[:i] + keep + lines[i + 1 :]
    return None, lines


def _marker_key(line: str) -> str:
    line = _BULLET.sub("", line)
    return line.strip().rstrip(":：").strip().lower()


def is_marker(line: str) -> bool:
    """True when ``line`` alone announces a block of teasers ("Read more", "Voir plus"...)."""
    return _marker_key(line) in TEASER_MARKERS


def _find_marker(lines: list[str]) -> int | None:
    """Index of the first marker line that follows some article text."""
    seen_text = False
    for i, line in enumerate(lines):
        if not line:
            continue
        if is_marker(line):
            if seen_text:
                return i
        else:
            seen_text = True
    return None


def is_caption(line: str) -> bool:
    """True for a photo caption line ("... Photo : VNA", "ảnh 1...", "Ảnh: TTXVN")."""
    if not line or len(line) > CAPTION_MAX_CHARS:
        return False
    return bool(
        _CAPTION_PLACEHOLDER.search(line)
        or _CAPTION_CREDIT.search(line)
        or (_CAPTION_START.match(line) and len(line) <= CAPTION_START_MAX_CHARS)
        or _CAPTION_SOURCE_TAIL.search(line)
    )


def looks_like_headline(line: str) -> bool:
    """A short line of words without a final period (a title, not a paragraph)."""
    if not line or len(line) > HEADLINE_MAX_CHARS or len(line.split()) > HEADLINE_MAX_WORDS:
        return False
    if line[-1] in _FINAL_PUNCT or not any(ch.isalpha() for ch in line):
        return False
    return not _URL.search(line)


def _is_inline_related(line: str) -> bool:
    """An inline "Related: <headline>" / "Lire aussi : ..." link line."""
    match = _INLINE_RELATED.match(line)
    return match is not None and len(line) <= 250 and match.group(1).strip().lower() in TEASER_MARKERS


def _source_url(line: str) -> tuple[bool, str | None]:
    """(is a source line, URL it gives) for "Nguồn ...: http://..." or a bare URL."""
    bare = _BARE_URL_LINE.match(line)
    if bare:
        return True, bare.group(1)
    match = _SOURCE_LINE.match(line)
    if match and len(line) <= 300:
        url = _URL.search(match.group(1))
        if url:
            return True, url.group(0)
        if len(line) <= SOURCE_NO_URL_MAX_CHARS and line[-1] not in ".!?":
            return True, None  # "Source: VNA"
    return False, None


LEADING_LINES = 8  # bylines are looked for among the first lines and at the end


def _clean_body(lines: list[str]) -> tuple[list[str], str | None, str | None]:
    """Drop captions, inline related links, stray markers, source lines, page
    chrome (date and time lines, share and copyright lines, breadcrumbs) and
    leading or trailing bylines; return the lines left, the source URL and the
    first date a date line gives."""
    url = None
    date = None
    kept: list[str] = []
    seen = 0
    for line in lines:
        if not line:
            kept.append(line)
            continue
        seen += 1
        is_source, found = _source_url(line)
        if is_source:
            url = url or found
            continue
        if is_date_line(line):
            date = date or parse_date(line)
            continue
        if (
            is_caption(line)
            or _is_inline_related(line)
            or is_marker(line)
            or is_chrome(line)
            or (seen <= LEADING_LINES and is_byline(line))
        ):
            continue
        kept.append(line)
    # trailing bylines: "QUẾ ANH", "Phóng viên Báo Nhân Dân thường trú tại LB Nga"
    while kept and (not kept[-1] or is_closing_byline(kept[-1])):
        kept.pop()
    while kept and not kept[0]:
        kept.pop(0)
    return kept, url, date


def _leading_headline(lines: list[str]) -> str | None:
    nonempty = [line for line in lines if line]
    if len(nonempty) >= 2 and looks_like_headline(nonempty[0]):
        return nonempty[0]
    return None


# --- teasers -------------------------------------------------------------------


@dataclass
class _Teaser:
    headline: str | None = None
    lede: list[str] = field(default_factory=list)
    caption: str | None = None

    def empty(self) -> bool:
        return self.headline is None and not self.lede

    def text(self) -> str:
        parts = ([self.headline] if self.headline else []) + self.lede
        return "\n\n".join(parts)


def _split_teasers(lines: list[str]) -> list[_Teaser]:
    """Split the lines after a teaser marker into teasers.

    Each teaser is an optional photo caption (dropped), a headline (short line
    without a final period, possibly repeated) and an optional lede paragraph.
    A paragraph that sits right before a headline while the current teaser is
    complete is the next teaser's caption. Headline-only lines (a list of
    links) each make one teaser.
    """
    blocks = [_BULLET.sub("", line).strip() for line in lines if line]
    blocks = [b for b in blocks if b and not is_marker(b)]
    teasers: list[_Teaser] = []
    current = _Teaser()

    def close() -> None:
        nonlocal current
        if not current.empty():
            teasers.append(current)
        current = _Teaser()

    for i, block in enumerate(blocks):
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if is_caption(block) or _source_url(block)[0]:
            close()
            current.caption = block
        elif looks_like_headline(block):
            if current.headline is not None and not current.lede and block == current.headline:
                continue  # the headline repeated (link text + heading)
            close()
            current.headline = block
        elif current.headline is not None and not current.lede:
            current.lede.append(block)
        elif nxt is not None and looks_like_headline(nxt) and not is_caption(nxt):
            # an uncredited caption before the next headline
            close()
            current.caption = block
        elif current.empty() or current.lede:
            if current.headline is None:
                close()  # a lede-only teaser stands alone
            current.lede.append(block)
    close()
    return teasers
