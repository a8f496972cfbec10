"""Lark grammars of the input formats and their registry (formats.toml)."""
