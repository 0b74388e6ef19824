"""Quality figures: labelled data loaders (``gold``), B-cubed and pairwise
metrics with their report (``metrics``), and the runner behind ``cluster eval``
(``runner``)."""
