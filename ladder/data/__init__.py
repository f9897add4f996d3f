"""Tasks and corpora built from data that installed packages ship."""
