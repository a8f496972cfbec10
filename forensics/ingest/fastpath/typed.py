"""Typing: text values spread into typed event columns and ``attrs`` JSON, as the Lark path's
``typed_columns`` gives them; rows whose values would not convert are named."""

from __future__ import annotations

import polars as pl

from forensics.events import EVENTS_SCHEMA
from forensics.money import currency_columns, major_columns


def attrs_json(attrs: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """``_attrs``: a JSON object per row from (row, key, text), keys sorted, the outer program added."""
    program = rows.filter(pl.col("_program").is_not_null(), pl.col("_i").is_in(attrs["_i"].implode())).select(
        "_i", _akey=pl.lit("program"), _val=pl.col("_program")
    )
    pairs = pl.concat([attrs, program])
    # escaped only when a text needs it (a pass that finds nothing is cheaper than the three replacements)
    plain = not pairs.select(pl.any_horizontal(pl.col("_akey", "_val").str.contains(_ESCAPED)).any()).item()
    key, value = (
        (pl.col("_akey"), pl.col("_val")) if plain else (_json_text(pl.col("_akey")), _json_text(pl.col("_val")))
    )
    return (
        pairs.sort("_i", "_akey")
        .group_by("_i", maintain_order=True)
        .agg(pl.format('"{}":"{}"', key, value).str.join(",").alias("_body"))
        .select("_i", _attrs=pl.concat_str(pl.lit("{"), pl.col("_body"), pl.lit("}")))
    )


#: The characters ``_json_text`` escapes.
_ESCAPED = r'[\\"\t]'


def _json_text(text: pl.Expr) -> pl.Expr:
    """``text`` escaped as inside a JSON string, as ``json.dumps(ensure_ascii=False)`` writes plain text."""
    return (
        text.str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all('"', '\\"', literal=True)
        .str.replace_all("\t", "\\t", literal=True)
    )


def spread(long: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """One text column per ``_target`` of the (``_i``, ``_target``, ``_val``) table, a row per id.

    ``ids`` is sorted and unique; a row's value lands at its id's position (no pivot).
    """
    columns = {"_i": ids}
    if long.height:
        long = long.with_columns(_pos=ids.search_sorted(long["_i"]))
        for (target,), part in long.partition_by("_target", as_dict=True).items():
            columns[str(target)] = pl.repeat(None, ids.len(), dtype=pl.String, eager=True).scatter(
                part["_pos"], part["_val"]
            )
    return pl.DataFrame(columns)


def typed(wide: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """``_v_<column>`` typed values from text values; the rows where a value would not convert."""
    have = sorted(set(wide.columns) - {"_i"})
    cur_exp = pl.lit(None, pl.Int64)
    if "currency" in have:  # looked up once, used by every amount
        code, exponent = currency_columns(pl.col("currency"))
        # each distinct code looked up once (a batch logs a few currencies on many rows)
        codes = wide.select(pl.col("currency").unique().drop_nulls()).with_columns(
            _v_currency=pl.coalesce(code, pl.col("currency").str.strip_chars().str.to_uppercase()), _cexp=exponent
        )
        wide = wide.join(codes, on="currency", how="left", maintain_order="left")
        cur_exp = pl.col("_cexp")
    steps: list[pl.Expr] = []
    bad: list[pl.Expr] = []
    sources: dict[str, list[str]] = {}
    for name in have:
        if name == "currency":
            continue
        base, _, unit = name.partition(":")
        value = pl.col(name)
        dtype = EVENTS_SCHEMA[base]
        target = f"_c_{name}"
        if base in ("amount", "tip"):
            if unit == "minor":
                bad.append(value.is_not_null() & ~value.str.contains(r"^-?\d{1,18}$"))
                steps += [
                    value.cast(pl.Int64, strict=False).alias(target),
                    pl.when(value.is_not_null()).then(cur_exp).alias(f"_e_{name}"),
                ]
            else:
                bad.append(value.is_not_null() & ~value.str.contains(r"^-?\d{1,15}(?:\.\d{1,3})?$"))
                minor, written = major_columns(value, cur_exp)
                steps += [minor.alias(target), pl.when(value.is_not_null()).then(written).alias(f"_e_{name}")]
            sources.setdefault("exponent", []).append(f"_e_{name}")
        elif dtype.is_integer() or dtype.is_float():  # what Polars reads as a number, Python reads the same
            steps.append(value.cast(pl.Int64 if dtype.is_integer() else pl.Float64, strict=False).alias(target))
            bad.append(value.is_not_null() & pl.col(target).is_null())
        else:
            steps.append((value.str.strip_chars() if base in ("tid", "mid") else value).alias(target))
        sources.setdefault(base, []).append(target)
    wide = wide.with_columns(steps)
    out = [pl.col("_v_currency")] if "currency" in have else []
    for base, names in sources.items():
        if len(names) > 1 and base == "exponent":  # amount and tip on one line must agree
            bad += [
                pl.col(a).is_not_null() & pl.col(b).is_not_null() & (pl.col(a) != pl.col(b))
                for i, a in enumerate(names)
                for b in names[i + 1 :]
            ]
        elif len(names) > 1:  # one column from two sources (amount and amount:minor): which wins is order
            bad.append(pl.sum_horizontal([pl.col(n).is_not_null().cast(pl.Int32) for n in names]) > 1)
        out.append(pl.coalesce(names).alias(f"_v_{base}"))
    typed_wide = wide.select("_i", *out, _bad=pl.any_horizontal(bad) if bad else pl.lit(False))
    return typed_wide.drop("_bad"), typed_wide.filter(pl.col("_bad")).get_column("_i")
