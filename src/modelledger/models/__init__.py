"""Model versions: registration of the reproducible tuple, systems, cards, loaders, reading back."""
