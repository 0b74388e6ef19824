"""clusterer: find the same news story across languages."""
