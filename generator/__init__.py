"""Study-material generator: Markdown notes → Anki deck, PDF study guide, HTML cheat sheet."""
__version__ = "0.1.0"
