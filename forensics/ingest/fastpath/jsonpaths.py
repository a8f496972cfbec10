"""JSON payloads as columns: the leaves of one JSON object per row by dotted path, as
``payloads._json`` gives them (``json.loads`` with numbers kept as logged), for the objects whose
reading is exact without a JSON parser.

``PLAIN_OBJECT`` is that subset: an object of objects (no arrays), nested at most ``DEPTH``
deep, whose strings hold no backslash (no escapes) and no tab, with JSON numbers, ``true``,
``false`` and ``null``. In it, every token is found by one expression and a leaf's path is the
keys of the objects that enclose it. Payloads outside it, and objects with a key twice under one
parent, an empty key or two leaves on one dotted path (Python keeps the last of either), are
named for the Lark path.
"""

from __future__ import annotations

import polars as pl

#: Objects deeper than this (the outermost counts 1) take the Lark path.
DEPTH = 6

_WS = "[ \t]*"
_STRING = r'"[^"\\\t]*"'
_SCALAR = rf"(?:{_STRING}|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)"


def _object(depth: int) -> str:
    """An object of the subset nested at most ``depth`` deep."""
    body = ""
    for _ in range(depth):
        value = f"(?:{_SCALAR}|{body})" if body else _SCALAR
        member = f"{_WS}{_STRING}{_WS}:{_WS}{value}{_WS}"
        body = rf"\{{(?:{member}(?:,{member})*|{_WS})\}}"
    return body


#: A payload that is one object of the subset, whitespace around it allowed.
PLAIN_OBJECT = f"^{_WS}{_object(DEPTH)}{_WS}$"
#: An empty object: ``payloads._json`` reads it as one leaf whose path is empty.
_EMPTY = rf"^{_WS}\{{{_WS}\}}{_WS}$"
#: Tokens of such an object: a key with its colon, a brace, a string, a number or word.
_TOKEN = r'"[^"]*"[ \t]*:|[{}]|"[^"]*"|[^ \t,:{}"]+'


def leaves(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """(``_i``, ``_key``, ``_val``) of the leaves of each row's ``_payload`` (an object of
    ``PLAIN_OBJECT``), in document order, and the rows whose reading would not be exact.

    A null is no leaf; an empty object is the leaf ``{}``; strings lose their quotes.
    """
    tokens = (
        rows.select("_i", _t=pl.col("_payload").str.extract_all(_TOKEN))
        .explode("_t")
        .with_columns(_open=pl.col("_t") == "{", _close=pl.col("_t") == "}")
    )
    # every object closes in its row, so the depth before each token never carries over rows
    depth = (pl.col("_open").cast(pl.Int32) - pl.col("_close").cast(pl.Int32)).cum_sum() - (
        pl.col("_open").cast(pl.Int32) - pl.col("_close").cast(pl.Int32)
    )
    tokens = tokens.with_columns(
        _d=depth,
        _k=pl.col("_t").str.extract(r'^"([^"]*)"[ \t]*:$', 1).shift(1),  # the key before a value
        _empty=pl.col("_open") & (pl.col("_t").shift(-1) == "}"),
    )
    # the key of the object opened at each depth, carried to the tokens inside it
    enclosing = [
        pl.when(pl.col("_open") & (pl.col("_d") == level - 1)).then(pl.col("_k")).forward_fill().alias(f"_a{level}")
        for level in range(2, DEPTH + 1)
    ]
    tokens = tokens.with_columns(enclosing)
    path = pl.concat_str(
        [pl.when(pl.col("_d") >= level).then(pl.col(f"_a{level}")) for level in range(2, DEPTH + 1)] + [pl.col("_k")],
        separator=".",
        ignore_nulls=True,
    )
    values = tokens.filter(pl.col("_k").is_not_null(), ~pl.col("_close"), ~pl.col("_t").str.ends_with(":"))
    values = values.with_columns(_key=path)
    bad = pl.concat(
        [
            values.filter(pl.struct("_i", "_key").is_duplicated()).get_column("_i"),
            values.filter(pl.col("_k") == "").get_column("_i"),
            rows.filter(pl.col("_payload").str.contains(_EMPTY)).get_column("_i"),
        ]
    ).unique()
    found = values.filter(~pl.col("_open") | pl.col("_empty"), pl.col("_t") != "null").select(
        "_i",
        "_key",
        _val=pl.when(pl.col("_empty"))
        .then(pl.lit("{}"))
        .when(pl.col("_t").str.starts_with('"'))
        .then(pl.col("_t").str.slice(1, pl.col("_t").str.len_chars() - 2))
        .otherwise(pl.col("_t")),
    )
    return found, bad
