"""A small corpus for the export and dedup tests, written in the test's folder:
a JSONL file whose records carry keys of their own (two of them one dispatch, the
later-dated one first in the file), a French page with a "Voir plus" block of
teasers and the same page republished under another name, and a stray record."""

from __future__ import annotations

import json
from pathlib import Path

DISPATCH = (
    "Dockworkers at the port of Antwerp began a forty-eight hour strike on Monday morning over "
    "pension reforms, halting container traffic at Europe's second busiest harbour. The union "
    "said about 4,500 members had walked out and that ships waiting to unload would be diverted "
    "to Rotterdam and Hamburg. Port authorities warned that perishable cargo, including fruit "
    "from South America, could spoil if the stoppage lasted beyond Wednesday. The government "
    "invited union leaders to new talks on Thursday in Brussels."
)

PAGE_FR = (
    "Grève des dockers : le port d'Anvers paralysé\n\n"
    "Les dockers du port d'Anvers ont entamé lundi matin une grève de quarante-huit heures contre "
    "la réforme des retraites, bloquant le trafic de conteneurs dans le deuxième port d'Europe. "
    "Selon le syndicat, environ 4 500 adhérents ont cessé le travail et les navires en attente "
    "seront déroutés vers Rotterdam et Hambourg. Les autorités portuaires craignent que les "
    "marchandises périssables, notamment les fruits d'Amérique du Sud, ne se gâtent.\n\n"
)

TEASERS_FR = (
    "Voir plus\n\n"
    "Boulangerie : le prix de la baguette augmente\n\n"
    "Les boulangers de Wallonie annoncent une hausse de dix centimes à partir du mois prochain.\n\n"
    "Football : match nul au stade Roi Baudouin\n\n"
    "Les deux équipes se sont quittées sur un score vierge devant quarante mille spectateurs.\n"
)

TEASERS_FR_OTHER = (
    "Voir plus\n\n"
    "Météo : des orages attendus ce week-end\n\n"
    "Les services météorologiques placent trois provinces en vigilance orange samedi.\n"
)

RECORDS = [
    {
        "id": "antwerp-mirror",
        "site": "mirror.example",
        "text": "Antwerp (Reuters) - " + DISPATCH,
        "lang": "en",
        "date": "2026-02-03",
        "tags": ["port", "strike"],
        "rank": 2,
    },
    {
        "id": "antwerp-wire",
        "text": DISPATCH,
        "lang": "en",
        "date": "2026-02-02",
        "site": "wire.example",
        "tags": [],
        "rank": 1,
        "extra": {"nested": [1, 2.5, None]},
    },
    {
        "id": "jazz",
        "text": "Le festival de jazz de Coutances accueillera une quarantaine de concerts "
        "du 9 au 16 mai, dont celui du pianiste cubain Omar Sosa. La billetterie ouvre le 2 février.",
        "title": "Jazz à Coutances",
        "lang": "fr",
        "note": None,
    },
]


def write_small_corpus(root: Path) -> Path:
    """The corpus under ``root / "corpus"``; returns its folder."""
    corpus = Path(root) / "corpus"
    corpus.mkdir(parents=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in RECORDS]
    lines.insert(1, "{not json}")  # a damaged line: skipped by the reader, never written back
    (corpus / "wire.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (corpus / "page_fr.txt").write_text(PAGE_FR + TEASERS_FR, encoding="utf-8")
    (corpus / "page_fr_copy.md").write_text(PAGE_FR + TEASERS_FR_OTHER, encoding="utf-8")
    return corpus
