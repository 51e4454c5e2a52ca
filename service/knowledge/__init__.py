"""Knowledge packs: loading and validating a shop's pack, and indexing it."""
