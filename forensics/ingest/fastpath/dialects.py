"""Dialect twin: the dialect rules (forensics/dialects/*.toml) as column expressions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from lark import Lark

from forensics.ingest.dialect import WORDS_ATTR, Dialects, Rule
from forensics.ingest.fastpath.compiler import compile_grammar
from forensics.ingest.fastpath.typed import attrs_json, spread, typed

#: Characters JSON escapes (of those a plain line may hold): values with them take the Lark
#: path, since the fast path writes ``attrs`` JSON by concatenation.
_JSON_ESCAPED = r'["\\\t]'


@dataclass
class _FastRule:
    index: int
    dialect: str
    tag: str
    kind: str
    keyword: str | None
    match: str | None
    args: list[str]
    fields: dict[str, str]
    constants: dict[str, str]
    risky_keys: list[str]
    groups: dict[str, str] = field(default_factory=dict)  # match group -> target
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> {logged: canonical}


class FastDialects:
    """The dialect rules as column expressions; rows they cannot settle exactly are refused.

    Value maps and group targets compile; a rule that does not (an ISO dump in another shape
    than ``DE<n>=``, a ``match`` Polars cannot run, two sources for one column) leaves its tag
    to the Lark path."""

    def __init__(self, dialects: Dialects, payload_parser: Lark):
        self.tags = sorted(dialects.tags)
        by_tag = dialects.rules_by_tag()
        by_length = sorted(self.tags, key=len, reverse=True)
        self.prefix = "^(" + "|".join(re.escape(t) for t in by_length) + "): " if by_length else None
        self.logfmt = compile_grammar(payload_parser, captures=False).pattern
        self.rules: list[_FastRule] = []
        self.slow_tags: set[str] = set()
        iso = {f"DE{element}": target for element, target in dialects.iso.items()}
        for tag, rules in by_tag.items():
            for rule in rules:
                fast = self._compile(len(self.rules), rule, iso)
                if fast is None:
                    self.slow_tags.add(tag)
                else:
                    self.rules.append(fast)

    @staticmethod
    def _compile(index: int, rule: Rule, iso: dict[str, str]) -> _FastRule | None:
        match = rule.match.pattern if rule.match is not None else None
        if match is not None:
            try:
                pl.Series([""]).str.contains(match)
            except pl.exceptions.PolarsError:
                return None
        if rule.fields is None and rule.iso != "DE":
            return None  # an ISO dump in another shape: the Lark path reads its keys as DE<n>=
        fields = dict(iso) if rule.fields is None else dict(rule.fields)
        named = list(rule.match.groupindex) if rule.match is not None else []
        groups = {rule.groups.get(g, g) for g in named}
        filled = [t.partition(":")[0] for t in [*fields.values(), *rule.args, *rule.constants]]
        if len({t.partition(":")[0] for t in groups}) < len(named) or any(
            t.partition(":")[0] in filled for t in groups
        ):
            return None  # two sources fill one column (a unit apart): the Lark path keeps the last
        constants = {k: str(v) for k, v in rule.constants.items()}
        others = [set(rule.args), groups, set(constants)]
        if any(a & b for i, a in enumerate(others) for b in others[i + 1 :]) or len(set(rule.args)) < len(rule.args):
            return None
        seen: dict[str, list[str]] = {}
        for key, target in fields.items():
            seen.setdefault(target, []).append(key)
        risky = [k for keys in seen.values() if len(keys) > 1 for k in keys]
        risky += [k for k, t in fields.items() if any(t in s for s in others)]
        attr_targets = [t[6:] for t in [*fields.values(), *rule.args, *groups, *constants] if t.startswith("attrs.")]
        risky += [k for k in attr_targets if k not in fields]
        return _FastRule(
            index,
            rule.dialect,
            rule.tag,
            rule.kind,
            rule.keyword,
            match,
            list(rule.args),
            fields,
            constants,
            sorted(set(risky)),
            dict(rule.groups),
            {column: words for column, words in rule.values.items() if column not in constants},
        )

    def apply(self, env: pl.DataFrame) -> pl.DataFrame:
        """Dialect columns for envelope rows; a ``_refuse`` column marks rows for the Lark path."""
        own = pl.col("tag").is_in(self.tags)
        pre = pl.col("_pre")
        open_ = pl.col("kind").is_null()
        frame = env.with_columns(
            _pre=pl.when(open_ & ~own).then(pl.col("message").str.extract(self.prefix, 1))
            if self.prefix
            else pl.lit(None, pl.String)
        )
        frame = frame.with_columns(
            _dtag=pl.when(open_ & own).then(pl.col("tag")).when(open_).then(pre),
            _program=pl.when(open_ & ~own & pre.is_not_null()).then(pl.col("tag")),
            _payload=pl.when(open_ & own)
            .then(pl.col("message"))
            .when(open_ & pre.is_not_null())
            .then(pl.col("message").str.slice(pre.str.len_chars() + 2)),
        )
        frame = frame.with_columns(
            _refuse=pl.col("_dtag").is_not_null()
            & (
                pl.col("_dtag").is_in(sorted(self.slow_tags))
                | pl.col("_payload").str.contains(_JSON_ESCAPED).fill_null(False)
                | pl.col("_program").str.contains(_JSON_ESCAPED).fill_null(False)
            ),
            _valid=pl.col("_payload").str.contains(self.logfmt),
        )
        frame = frame.with_columns(
            _keyword=pl.when(pl.col("_valid")).then(pl.col("_payload").str.extract(r"^([^ ]+)", 1))
        )
        chain: Any = pl
        for rule in self.rules:
            cond = (pl.col("_dtag") == rule.tag) & pl.col("_payload").is_not_null()
            if rule.keyword is not None:
                cond &= pl.col("_keyword") == rule.keyword
            if rule.match is not None:
                cond &= pl.col("_payload").str.contains(rule.match)
            chain = chain.when(cond).then(pl.lit(rule.index))
        rule_expr = chain.otherwise(None) if self.rules else pl.lit(None)
        frame = frame.with_columns(_rule=rule_expr.cast(pl.Int32))
        dialect_rows = (
            frame.select("_i", "_rule", "_payload", "_valid", "_program", "_refuse")
            .filter(pl.col("_rule").is_not_null() & ~pl.col("_refuse"))
            .drop("_refuse")
        )
        values, attrs, refused = self._values(dialect_rows)
        kinds = {r.index: r.kind for r in self.rules}
        names = {r.index: r.dialect for r in self.rules}
        is_d = pl.col("_dtag").is_not_null()
        applied = pl.col("_rule").is_not_null()
        frame = frame.with_columns(
            kind=pl.when(~open_)
            .then(pl.col("kind"))
            .when(applied)
            .then(pl.col("_rule").replace_strict(kinds, default=None, return_dtype=pl.String))
            .otherwise(pl.lit("log")),
            dialect=pl.when(applied).then(pl.col("_rule").replace_strict(names, default=None, return_dtype=pl.String)),
            keyword=pl.when(applied).then(pl.col("_keyword")),
            tag=pl.when(is_d).then(pl.col("_dtag")).otherwise(pl.col("tag")),
            message=pl.when(is_d).then(pl.col("_payload")).otherwise(pl.col("message")),
        )
        frame = frame.join(values, on="_i", how="left", maintain_order="left")
        frame = frame.join(attrs, on="_i", how="left", maintain_order="left")
        program_only = pl.when(pl.col("_program").is_not_null()).then(
            pl.concat_str(pl.lit('{"program":"'), pl.col("_program"), pl.lit('"}'))
        )
        frame = frame.with_columns(attrs=pl.coalesce(pl.col("_attrs"), program_only))
        if refused.len():
            frame = frame.with_columns(_refuse=pl.col("_refuse") | pl.col("_i").is_in(refused.implode()))
        targets = [c[3:] for c in values.columns if c != "_i"]
        frame = frame.with_columns(
            [
                pl.coalesce(pl.col(f"_v_{t}"), pl.col(t)).alias(t) if t in frame.columns else pl.col(f"_v_{t}").alias(t)
                for t in targets
            ]
        )
        return frame.drop(
            [f"_v_{t}" for t in targets]
            + ["_attrs", "_pre", "_dtag", "_program", "_payload", "_valid", "_keyword", "_rule"]
        )

    def _values(self, rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
        """Typed columns (``_v_<column>``) and attrs JSON per row, and the rows refused."""
        empty_i = pl.Series("_i", [], pl.Int64)
        if rows.is_empty():
            return (
                pl.DataFrame({"_i": empty_i}),
                pl.DataFrame({"_i": empty_i, "_attrs": pl.Series([], dtype=pl.String)}),
                empty_i,
            )
        tokens = _tokens(rows)
        pairs, words = tokens.filter(pl.col("_key").is_not_null()), tokens.filter(pl.col("_key").is_null())
        refused = self._refusals(rows, pairs)
        # (row, column, text) from key=value pairs, positional words, match groups and constants;
        # (row, attrs key, text) from unmapped pairs, extra words and attrs.* columns
        long_parts, attr_parts = self._pairs(pairs)
        self._words(words, long_parts, attr_parts)
        self._rule_values(rows, long_parts)
        long = pl.concat([p.cast({"_i": pl.Int64, "_target": pl.String, "_val": pl.String}) for p in long_parts])
        long = self._mapped(long, rows)
        is_attr = pl.col("_target").str.starts_with("attrs.")
        attr_parts.append(long.filter(is_attr).select("_i", _akey=pl.col("_target").str.slice(6), _val="_val"))
        wide, bad = typed(spread(long.filter(~is_attr, pl.col("_val") != ""), rows["_i"]))
        refused.append(bad)
        return (
            wide,
            attrs_json(pl.concat([p.cast({"_i": pl.Int64}) for p in attr_parts]), rows),
            pl.concat(refused).unique(),
        )

    def _refusals(self, rows: pl.DataFrame, pairs: pl.DataFrame) -> list[pl.Series]:
        """Rows whose columns or attrs would depend on which of two sources Python writes last."""
        # a key twice in one payload; a hash collision only sends a row to Lark
        refused = [pairs.filter((pl.col("_key").hash(7) ^ pl.col("_i").hash(11)).is_duplicated()).get_column("_i")]
        refuse = []
        for rule in self.rules:
            if rule.risky_keys:
                risky = pl.col("_payload").str.contains(
                    r" (?:" + "|".join(re.escape(k) for k in rule.risky_keys) + ")="
                )
                refused.append(rows.filter(pl.col("_rule") == rule.index).filter(risky).get_column("_i"))
        refuse.append(pl.col("_i").filter(pl.col("_payload").str.contains(f" {WORDS_ATTR}=")))
        refuse.append(
            pl.col("_i").filter(pl.col("_program").is_not_null() & pl.col("_payload").str.contains(" program="))
        )
        return refused + [rows.select(e).to_series() for e in refuse]

    def _pairs(self, pairs: pl.DataFrame) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
        """key=value pairs: mapped ones to their columns, the others to attrs."""
        mapping = pl.DataFrame(
            [(r.index, k, t) for r in self.rules for k, t in r.fields.items()],
            schema={"_rule": pl.Int32, "_key": pl.String, "_target": pl.String},
            orient="row",
        )
        tokens = pairs.join(mapping, on=["_rule", "_key"], how="left")
        return (
            [tokens.filter(pl.col("_target").is_not_null()).select("_i", "_target", "_val")],
            [tokens.filter(pl.col("_target").is_null()).select("_i", _akey=pl.col("_key"), _val=pl.col("_val"))],
        )

    def _words(self, words: pl.DataFrame, long_parts: list[pl.DataFrame], attr_parts: list[pl.DataFrame]) -> None:
        """Positional words: the rule's ``args`` in order, the rest joined into attrs."""
        args = pl.DataFrame(
            [(r.index, n, target) for r in self.rules for n, target in enumerate(r.args)],
            schema={"_rule": pl.Int32, "_n": pl.Int64, "_target": pl.String},
            orient="row",
        )
        # words are in payload order: a word's place is its row less the row of its payload's first word
        row = pl.int_range(pl.len(), dtype=pl.Int64)
        first = pl.when(pl.col("_i") != pl.col("_i").shift(1)).then(row).forward_fill().fill_null(0)
        placed = words.with_columns(_n=row - first).join(args, on=["_rule", "_n"], how="left", maintain_order="left")
        long_parts.append(placed.filter(pl.col("_target").is_not_null()).select("_i", "_target", "_val"))
        extra = (
            placed.filter(pl.col("_target").is_null())
            .group_by("_i", maintain_order=True)
            .agg(pl.col("_val").str.join(" "))
        )
        attr_parts.append(extra.select("_i", _akey=pl.lit(WORDS_ATTR), _val="_val"))

    def _mapped(self, long: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
        """(row, target, text) with each text through its rule's value map (``[values]``), as
        ``Dialects._columns`` does (a rule's constants are never mapped: they are not in ``values``)."""
        maps = pl.DataFrame(
            [(r.index, c, logged, word) for r in self.rules for c, m in r.values.items() for logged, word in m.items()],
            schema={"_rule": pl.Int32, "_target": pl.String, "_val": pl.String, "_word": pl.String},
            orient="row",
        )
        if maps.is_empty():
            return long
        return (
            long.join(rows.select("_i", "_rule"), on="_i", how="left", maintain_order="left")
            .join(maps, on=["_rule", "_target", "_val"], how="left", maintain_order="left")
            .select("_i", "_target", _val=pl.coalesce("_word", "_val"))
        )

    def _rule_values(self, rows: pl.DataFrame, long_parts: list[pl.DataFrame]) -> None:
        """Each rule's ``match`` groups and ``set`` constants on its own rows."""
        for rule in self.rules:
            mine = rows.filter(pl.col("_rule") == rule.index)
            if mine.is_empty():
                continue
            if rule.match is not None and re.compile(rule.match).groupindex:
                got = mine.select("_i", _g=pl.col("_payload").str.extract_groups(rule.match)).unnest("_g")
                long_parts.append(
                    got.unpivot(index="_i", variable_name="_target", value_name="_val")
                    .drop_nulls("_val")
                    .with_columns(pl.col("_target").replace(rule.groups))  # a group's target (``groups``)
                )
            for target, value in rule.constants.items():
                long_parts.append(mine.select("_i", _target=pl.lit(target), _val=pl.lit(value)))


def _tokens(rows: pl.DataFrame) -> pl.DataFrame:
    """(``_i``, ``_rule``, ``_key``, ``_val``) of each item after the keyword of the valid payloads,
    in order: a pair where the item holds "=", else a positional word (``_key`` null).

    Valid means the payload matches the logfmt grammar, whose items are separated by spaces,
    whose keys hold no "=" and whose words hold none at all; so splitting is exact.
    """
    items = (
        rows.filter(pl.col("_valid"))
        .select("_i", "_rule", _val=pl.col("_payload").str.split(" ").list.slice(1))
        .explode("_val")
    )
    halves = items.filter(pl.col("_val") != "").select("_i", "_rule", _s=pl.col("_val").str.splitn("=", 2))
    before, after = pl.col("_s").struct.field("field_0"), pl.col("_s").struct.field("field_1")
    return halves.select("_i", "_rule", _key=pl.when(after.is_not_null()).then(before), _val=pl.coalesce(after, before))
