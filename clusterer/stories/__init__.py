"""Events and stories: how similar two articles are (``similarity``), average linkage
over the neighbour graph (``linkage``), articles into events and events into stories
(``threads``: the rule the batch run and the nightly job share), and the teasers'
attachment to the stories found (``teasers``)."""
