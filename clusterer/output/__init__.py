"""What a result becomes besides its JSON: tables (``export``), the story browser
page (``browser``) and a deduplicated corpus (``dedup``)."""
