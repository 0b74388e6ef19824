"""clusterer: find the same news story across languages.

>>> from clusterer import Clusterer
>>> result = Clusterer().run("corpus/")     # doctest: +SKIP

What a user needs is here (``__all__``); the modules under it are the implementation.
"""

from .duplicates import DuplicateParams
from .embed.encoders import Encoder, SentenceTransformerEncoder, default_encoder
from .errors import CacheError, ClustererError, CorpusError, ModelError, OutputError, StateError, StateLocked
from .labels import label
from .nightly.changes import ChangeReport
from .nightly.job import Nightly
from .output.browser import write_html
from .output.dedup import dedup, dedup_corpus
from .output.export import write_output
from .pipeline import Clusterer
from .records import Item, Record, Skipped
from .result import ClusterResult, DuplicateGroup, Event, ItemResult, Story, load_result
from .settings import SettingsError, load_settings
from .stories.similarity import StoryParams

__all__ = [
    # the work: a batch run, the nightly job and its report
    "Clusterer",
    "Nightly",
    "ChangeReport",
    # what a run gives, and what can be done with it
    "ClusterResult",
    "Event",
    "ItemResult",
    "Story",
    "DuplicateGroup",
    "load_result",
    "label",
    "write_output",
    "write_html",
    "dedup",
    "dedup_corpus",
    # what goes in
    "Record",
    "Item",
    "Skipped",
    # settings
    "StoryParams",
    "DuplicateParams",
    "load_settings",
    # models
    "Encoder",
    "default_encoder",
    "SentenceTransformerEncoder",
    # errors a caller can act on (all ClustererError)
    "ClustererError",
    "CorpusError",
    "ModelError",
    "CacheError",
    "StateError",
    "StateLocked",
    "OutputError",
    "SettingsError",
]
