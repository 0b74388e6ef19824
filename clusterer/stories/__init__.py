"""Stories: how similar two articles are as parts of one story (``similarity``),
average linkage over the neighbour graph (``linkage``), and the teasers'
attachment to the stories found (``teasers``)."""
