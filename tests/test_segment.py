"""Splitting pages into an article and teasers; metadata and furniture lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import shared_path

from clusterer.read import read_corpus
from clusterer.records import ARTICLE, TEASER, Record
from clusterer.segment import is_caption, is_marker, looks_like_headline, segment

DATA = Path(__file__).parent / "data" / "corpus"


def _page(name: str) -> Record:
    return Record(id=name, text=(DATA / name).read_text(encoding="utf-8"))


def test_english_page_metadata_and_headline_list():
    article, *teasers = segment(_page("en_flood.txt"))
    assert (article.id, article.doc, article.kind) == ("en_flood.txt", "en_flood.txt", ARTICLE)
    assert article.date == "2021-07"
    assert article.url == "https://news.example.org/2021/07/river-floods.html"
    assert article.title == "River floods force thousands to leave their homes"
    assert article.text.startswith("River floods force")
    for furniture in ("date 2021", "Photo", "Source:", "Related", "Dam operators", "Farmers"):
        assert furniture not in article.text
    assert [t.title for t in teasers] == [
        "Farmers count the cost of a dry spring",
        "City council approves new bike lanes",
        "Museum reopens after two-year renovation",
    ]
    assert [t.id for t in teasers] == [f"en_flood.txt#teaser-{k}" for k in (1, 2, 3)]
    assert all(t.kind == TEASER and t.doc == "en_flood.txt" and t.text == t.title for t in teasers)


def test_french_page_caption_headline_lede_teasers():
    article, *teasers = segment(_page("fr_sommet.txt"))
    assert "Photo" not in article.text and "Lire aussi" not in article.text
    assert article.text.endswith("-AFP")
    assert [t.title for t in teasers] == [
        "Un pont relie enfin les deux rives de la ville",
        "Le festival de musique bat un record de fréquentation",
    ]
    first, second = teasers
    assert first.text.startswith("Un pont relie") and "Après quatre ans" in first.text
    assert "Photo" not in first.text  # the caption is dropped
    assert second.text.count("Le festival de musique") == 1  # repeated headline once


def test_vietnamese_page_source_reporter_caption():
    [article] = segment(_page("sub/vi_hop_tac.md"))
    assert article.url == "https://bao.example.vn/giao-duc/hop-tac-123.html"
    assert article.title == "Hai nước đẩy mạnh hợp tác giáo dục"
    assert article.text.endswith("kết quả thực hiện.")
    assert "THU HÀ" not in article.text and "Ảnh" not in article.text and "Nguồn" not in article.text


def test_record_metadata_wins():
    rec = Record(
        id="x",
        text=" date 2018-12 Caption.\n\nHeadline here\n\nBody text.\n\nhttp://a.b/c",
        title="Given",
        lang="zh-yue",
        date="2020-01-02",
        url="https://given",
    )
    [article] = segment(rec)
    assert (article.title, article.lang, article.date, article.url) == (
        "Given",
        "zh-yue",
        "2020-01-02",
        "https://given",
    )
    assert article.text == "Headline here\n\nBody text."


def test_page_metadata_found_when_record_has_none():
    rec = Record(id="x", text=" date 2018-12 Caption.\n\nHeadline here\n\nBody text.\n\nhttp://a.b/c")
    [article] = segment(rec)
    assert (article.title, article.date, article.url) == ("Headline here", "2018-12", "http://a.b/c")


def test_teasers_inherit_record_language():
    rec = Record(id="p", lang="fr", text="Titre\n\nCorps de l'article.\n\nVoir plus\n\nAutre titre")
    _, teaser = segment(rec)
    assert teaser.lang == "fr" and teaser.title == "Autre titre"


def test_plain_jsonl_text_is_one_article_unchanged():
    text = "The central bank kept its interest rate unchanged on Wednesday."
    [article] = segment(Record(id="j1", text=text))
    assert article.text == text and article.title is None


def test_single_line_is_not_a_title():
    [article] = segment(Record(id="a", text="Short note without period"))
    assert article.title is None


def test_segment_is_pure_and_deterministic():
    rec = _page("fr_sommet.txt")
    before = rec.text
    assert segment(rec) == segment(rec)
    assert rec.text == before


@pytest.mark.parametrize(
    "line",
    [
        "Voir plus",
        "voir plus:",
        "Read more",
        "RELATED ARTICLES",
        "Xem thêm",
        "Tin liên quan :",
        "Mehr zum Thema",
        "Читайте также",
        "相关新闻",
        "Leer más",
        "Leia também",
    ],
)
def test_markers(line):
    assert is_marker(line)


@pytest.mark.parametrize("line", ["Voir plus de photos ici", "Related to the matter, he said."])
def test_not_markers(line):
    assert not is_marker(line)


@pytest.mark.parametrize(
    "line",
    [
        "Lors de la séance de travail. Photo: VNA",
        "Le Vietnam et la Russie ảnh 1Lors de la séance",
        "Rescue teams in the street. (Photo: Reuters)",
        "Ảnh: TTXVN",
        "Le vice-Premier ministre rend une visite - Photo : VGP",
        "Le ministre (deuxième à droite) (Source: VNA)",
    ],
)
def test_captions(line):
    assert is_caption(line)


def test_paragraph_is_not_caption_nor_headline():
    line = "The minister said the photo exhibition would open next week in the capital."
    assert not is_caption(line) and not looks_like_headline(line)
    assert looks_like_headline("Vietnam and Russia boost e-government cooperation")


def _shared_seeds() -> Path:
    return shared_path("seeds")


def test_real_seed_pages():
    records, skipped = read_corpus(_shared_seeds())
    assert skipped == []
    items = [item for record in records for item in segment(record)]
    articles = {i.id: i for i in items if i.kind == ARTICLE}
    teasers = [i for i in items if i.kind == TEASER]
    ids = sorted(articles)
    assert [i[:3] for i in ids] == ["000", "001", "002", "003", "004"]
    assert len(teasers) == 13
    by_doc = {doc: [t for t in teasers if t.doc == doc] for doc in ids}
    assert [len(by_doc[d]) for d in ids] == [0, 0, 7, 0, 6]
    for doc, group in by_doc.items():
        assert [t.id for t in group] == [f"{doc}#teaser-{k}" for k in range(1, len(group) + 1)]
        assert all(t.title and t.text.startswith(t.title) and len(t.text) > 200 for t in group)

    d002 = by_doc[ids[2]]
    assert d002[0].title == ("Le Vietnam attache une grande importance au rôle et à la position mondiale de l’UE")
    assert d002[1].title == "Le SG du Parti To Lam rend hommage aux anciens SG Tran Phu et Ha Huy Tap"
    assert d002[1].text.count("rend hommage aux anciens SG") == 1
    assert d002[3].title.startswith("Le Vietnam participe à la Réunion restreinte")
    assert by_doc[ids[4]][1].title.startswith("Le PM Pham Minh Chinh multiplie")
    assert all("Photo" not in t.text for t in teasers)

    for article in articles.values():
        text = article.text
        assert "Voir plus" not in text and "ảnh 1" not in text and "Photo" not in text
        assert "date 20" not in text
        for teaser in teasers:
            assert teaser.title not in text
    a002 = articles[ids[2]].text
    assert "To Lam" not in a002 and "Réunion restreinte" not in a002 and "Conseil européen" not in a002

    assert articles[ids[0]].date == "2018-12" and articles[ids[1]].date == "2019-05"
    a003 = articles[ids[3]]
    assert a003.url.startswith("http://nhandan.com.vn/congnghe/item/38549602")
    assert a003.title == "Việt Nam và LB Nga thúc đẩy hợp tác xây dựng Chính phủ điện tử"
    assert "QUẾ ANH" not in a003.text and "Phóng viên" not in a003.text
    assert "Nguồn" not in a003.text and "http" not in a003.text
    assert articles[ids[2]].title.startswith("Le Vietnam et la Russie discutent")


def test_long_paragraph_starting_with_photo_credit_is_kept():
    para = "Photo: Jane DoeIn light of the outbreak, " + "the event is postponed to a later date " * 5
    [article] = segment(Record(id="a", text=f"Title here\n\n{para}\n\nMore text."))
    assert para.strip() in article.text


def test_source_sentence_without_url_is_kept():
    line = "Source: the health ministry said on Monday that the number of cases had fallen sharply."
    [article] = segment(Record(id="a", text=f"Body text first.\n\n{line}\n\nSource: VNA"))
    assert article.text == f"Body text first.\n\n{line}" and article.url is None


def test_marker_before_any_text_does_not_empty_the_article():
    items = segment(Record(id="a", text="Read more\n\nThe article body itself, one paragraph."))
    assert len(items) == 1 and items[0].text == "The article body itself, one paragraph."
