"""Text to vectors: the encoder interface and its backends (``encoders``), the
content-hash cache in front of them (``cache``), and the default e5 engine
(``e5_convert`` converts the bundled weights once, ``e5_torch`` runs them)."""
