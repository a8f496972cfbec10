"""Dialect twin: the dialect rules (forensics/dialects/*.toml) as column expressions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from lark import Lark

from forensics.ingest.dialect import WORDS_ATTR, Dialects, Rule
from forensics.ingest.fastpath.compiler import compile_grammar
from forensics.ingest.fastpath.jsonpaths import PLAIN_OBJECT, leaves
from forensics.ingest.fastpath.typed import attrs_json, spread, typed
from forensics.ingest.payloads import KEYWORD_SHAPES, REFERENCE, TAG_SHAPES, Style, word_regex

#: Characters JSON escapes (of those a plain line may hold): values with them take the Lark
#: path, since the fast path writes ``attrs`` JSON by concatenation.
_JSON_ESCAPED = r'["\\\t]'
#: A payload json.loads may read as an object: of a JSON tag, one outside ``PLAIN_OBJECT`` takes the Lark path.
_JSON_OBJECT = r"^[ \t\n\r]*\{"
#: Before the element of an ISO dump key in a shape (``dialect.shape_pattern``): opening the payload or after a
#: space; Polars runs no look-behind, so the space is captured (group 1) and written back.
_KEY_START = r"(?<![^ ])"
#: The keyword in each keyword shape (of a payload the shape's grammar rule matched).
_KEYWORD_AT = {"word": r"^([^ ]+)", "dotted": r"^([^ ]+)", "colon": r"^([^ :]+):", "bracket": r"^\[([^ \]]+)\]"}


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
    style: int = 0  # index in FastDialects.styles
    iso: str | None = None  # the ISO dump shape whose keys are read as DE<n>= (None: the payload as logged)


class FastDialects:
    """The dialect rules as column expressions; rows they cannot settle exactly are refused.

    Value maps, group targets and ISO dumps in any shape (their keys rewritten to ``DE<n>=`` before
    the payload is read, as ``Dialects.apply`` does) compile; a rule that does not (a ``match``
    Polars cannot run, two sources for one column) leaves its tag to the Lark path."""

    def __init__(self, dialects: Dialects, payload_parser: Lark):
        self.tags = sorted(dialects.tags)
        by_tag = dialects.rules_by_tag()
        self.starts = {
            s: compile_grammar(payload_parser, captures=False, start=s).pattern for s in KEYWORD_SHAPES.values()
        }
        self.rules: list[_FastRule] = []
        self.slow_tags: set[str] = set()
        self.json_tags: set[str] = set()  # tags with JSON rules: their plain objects are read by ``jsonpaths``
        # each payload reading: a style, and the ISO shape whose keys it reads as DE<n>= (payloads.py)
        self.styles: list[Style] = [REFERENCE]
        self.shapes: list[str | None] = [None]
        # each ISO shape's keys for ``str.replace_all`` (group 2 the element); a shape Polars cannot run stays slow
        keys = {n: s.pattern for n, s in dialects.iso_shapes.items() if s.pattern.startswith(_KEY_START)}
        polars_keys = {n: "(^| )" + k.removeprefix(_KEY_START) for n, k in keys.items()}
        self.rewrites = {n: k for n, k in polars_keys.items() if _polars_accepts(k)}
        iso = {f"DE{element}": target for element, target in dialects.iso.items()}
        for tag, rules in by_tag.items():
            if any(rule.style.payload == "json" for rule in rules):
                self.json_tags.add(tag)
            for rule in rules:
                fast = self._compile(len(self.rules), rule, iso, set(self.rewrites))
                if fast is None:
                    self.slow_tags.add(tag)
                else:
                    readings = list(zip(self.styles, self.shapes, strict=True))
                    if (rule.style, fast.iso) not in readings:
                        self.styles.append(rule.style)
                        self.shapes.append(fast.iso)
                        readings.append((rule.style, fast.iso))
                    fast.style = readings.index((rule.style, fast.iso))
                    self.rules.append(fast)
        self.finder = dialects.tag_finder
        # a tag pattern Polars cannot run: every row it might claim takes the Lark path
        self.patterns_slow = not all(_polars_accepts(f"^(?:{p.pattern})$") for p in self.finder.patterns)

    @staticmethod
    def _compile(index: int, rule: Rule, iso: dict[str, str], shapes: set[str]) -> _FastRule | None:
        match = rule.match.pattern if rule.match is not None else None
        if match is not None:
            try:
                pl.Series([""]).str.contains(match)
            except pl.exceptions.PolarsError:
                return None
        shape = rule.iso if rule.fields is None and rule.iso != "DE" else None  # keys read as DE<n>=
        if shape is not None and (shape not in shapes or rule.style.payload != "logfmt"):
            return None
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
            iso=shape,
        )

    def apply(self, env: pl.DataFrame) -> pl.DataFrame:
        """Dialect columns for envelope rows; a ``_refuse`` column marks rows for the Lark path."""
        own = pl.col("tag").is_in(self.tags).fill_null(False)  # no tag (logcat raw, thread): not own
        pre, etag = pl.col("_pre"), pl.col("_etag")
        open_ = pl.col("kind").is_null()
        opening, cut = self._opening(pl.col("message"))
        frame = env.with_columns(_etag=pl.when(open_ & ~own).then(self._pattern_tag(pl.col("tag"))))
        frame = frame.with_columns(
            _pre=pl.when(open_ & ~own & etag.is_null()).then(opening),
            _cut=pl.when(open_ & ~own & etag.is_null()).then(cut),
        )
        frame = frame.with_columns(
            _dtag=pl.when(open_ & own)
            .then(pl.col("tag"))
            .when(open_ & etag.is_not_null())
            .then(etag)
            .when(open_)
            .then(pre),
            _program=pl.when(open_ & ~own & (etag.is_not_null() | pre.is_not_null())).then(pl.col("tag")),
            _payload=pl.when(open_ & (own | etag.is_not_null()))
            .then(pl.col("message"))
            .when(open_ & pre.is_not_null())
            .then(pl.col("message").str.slice(pl.col("_cut"))),
        )
        json_tag = pl.col("_dtag").is_in(sorted(self.json_tags))
        frame = frame.with_columns(_json=json_tag & pl.col("_payload").str.contains(PLAIN_OBJECT).fill_null(False))
        frame = frame.with_columns(
            _refuse=(
                pl.col("_dtag").is_not_null()
                & (
                    pl.col("_dtag").is_in(sorted(self.slow_tags))
                    | (pl.col("_payload").str.contains(_JSON_ESCAPED).fill_null(False) & ~pl.col("_json"))
                    | pl.col("_program").str.contains(_JSON_ESCAPED).fill_null(False)
                    | (json_tag & pl.col("_payload").str.contains(_JSON_OBJECT) & ~pl.col("_json"))
                )
            )
            | (open_ & ~own & pl.lit(self.patterns_slow)),
        )
        frame, json_leaves = self._json_keywords(frame)
        tags = set(frame.get_column("_dtag").drop_nulls().unique().to_list())
        rules = [r for r in self.rules if r.tag in tags]  # a rule of a tag the batch lacks cannot match
        readings = sorted({r.style for r in rules})  # the payload readings those rules need
        frame = frame.with_columns(**self._texts(readings))
        frame = frame.with_columns(**self._style_columns(readings))
        chain: Any = pl
        for rule in rules:
            cond = (pl.col("_dtag") == rule.tag) & pl.col("_payload").is_not_null()
            if self.styles[rule.style].payload == "json":  # not one JSON object: the rule does not read it
                cond &= pl.col(f"_valid_{rule.style}")
            if rule.keyword is not None:
                cond &= pl.col(f"_keyword_{rule.style}") == rule.keyword
            if rule.match is not None:
                cond &= pl.col("_payload").str.contains(rule.match)
            chain = chain.when(cond).then(pl.lit(rule.index))
        rule_expr = chain.otherwise(None) if rules else pl.lit(None)
        frame = frame.with_columns(_rule=rule_expr.cast(pl.Int32))
        json_rules = [r.index for r in self.rules if self.styles[r.style].payload == "json"]
        # a JSON object another style's rule took: its quotes are the Lark path's to read
        frame = frame.with_columns(
            _refuse=pl.col("_refuse")
            | (pl.col("_json") & pl.col("_rule").is_not_null() & ~pl.col("_rule").is_in(json_rules))
        )
        frame = frame.with_columns(self._rule_style(readings))
        dialect_rows = (
            frame.select("_i", "_rule", "_payload", "_text", "_valid", "_skip", "_kkey", "_program", "_refuse")
            .filter(pl.col("_rule").is_not_null() & ~pl.col("_refuse"))
            .drop("_refuse")
        )
        values, attrs, refused = self._values(dialect_rows, rules, json_leaves)
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
            + ["_attrs", "_pre", "_dtag", "_program", "_payload", "_text", "_valid", "_keyword", "_rule"]
            + ["_etag", "_cut", "_skip", "_kkey", "_json"]
            + [f"_{c}_{k}" for k in readings for c in ("text", "valid", "skip")]
            + [f"_keyword_{k}" for k in range(len(self.styles)) if k in readings or self.styles[k].payload == "json"]
        )

    def _json_keywords(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The frame with each JSON style's keyword (``_keyword_<k>``, the value of its keyword key)
        and the rows whose JSON would not read exactly refused; the leaves of the other JSON rows."""
        rows = frame.filter(pl.col("_json") & ~pl.col("_refuse")).select("_i", "_payload")
        found, bad = leaves(rows)
        if bad.len():
            frame = frame.with_columns(_refuse=pl.col("_refuse") | pl.col("_i").is_in(bad.implode()))
            found = found.filter(~pl.col("_i").is_in(bad.implode()))
        for k, style in enumerate(self.styles):
            if style.payload != "json":
                continue
            if style.keyword_key is None:
                frame = frame.with_columns(pl.lit(None, pl.String).alias(f"_keyword_{k}"))
                continue
            keywords = found.filter(pl.col("_key") == style.keyword_key).select("_i", _kw=pl.col("_val"))
            keywords = keywords.rename({"_kw": f"_keyword_{k}"})
            frame = frame.join(keywords, on="_i", how="left", maintain_order="left")
        return frame, found

    def _pattern_tag(self, logged: pl.Expr, shape: str | None = None) -> pl.Expr:
        """The dialect tag of the first tag pattern matching ``logged`` whole (in ``shape``)."""
        chain: Any = pl
        patterns = [p for p in self.finder.patterns if shape is None or shape in p.shapes]
        if self.patterns_slow or not patterns:
            return pl.lit(None, pl.String)
        for p in patterns:
            chain = chain.when(logged.str.contains(f"^(?:{p.pattern})$")).then(pl.lit(p.tag))
        return chain.otherwise(pl.lit(None, pl.String))

    def _opening(self, message: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
        """(dialect tag, length of the opening) of a message opening with a tag in a tag shape: a
        dialect tag in any shape first, then a word a tag pattern matches (payloads.TagFinder)."""
        found: list[tuple[pl.Expr, pl.Expr]] = []
        for shape, (_, extra) in TAG_SHAPES.items():
            if shape in self.finder.literal:
                tag = message.str.extract(self.finder.literal[shape], 1)
                found.append((tag, tag.str.len_chars() + extra))
        for shape, (_, extra) in TAG_SHAPES.items():
            if not self.patterns_slow and any(shape in p.shapes for p in self.finder.patterns):
                word = message.str.extract(word_regex(shape), 1)
                found.append((self._pattern_tag(word, shape), word.str.len_chars() + extra))
        if not found:
            return pl.lit(None, pl.String), pl.lit(None, pl.UInt32)
        cut: Any = pl
        for tag, length in found:
            cut = cut.when(tag.is_not_null()).then(length)
        return pl.coalesce([tag for tag, _ in found]), cut.otherwise(None)

    def _texts(self, readings: list[int]) -> dict[str, pl.Expr]:
        """``_text_<k>`` of each payload reading ``k`` of ``readings``: the payload as its style reads it, an
        ISO dump's keys in the reading's shape written ``DE<n>=`` (on the rows of the tags it serves)."""
        out: dict[str, pl.Expr] = {}
        for k in readings:
            shape = self.shapes[k]
            if shape is None:
                out[f"_text_{k}"] = pl.col("_payload")
                continue
            tags = sorted({r.tag for r in self.rules if r.style == k})
            rewritten = pl.col("_payload").str.replace_all(self.rewrites[shape], "${1}DE${2}=")
            out[f"_text_{k}"] = pl.when(pl.col("_dtag").is_in(tags)).then(rewritten)
        return out

    def _style_columns(self, readings: list[int]) -> dict[str, pl.Expr]:
        """``_valid_<k>``, ``_keyword_<k>``, ``_skip_<k>`` of each payload reading ``k`` of ``readings``: whether
        its text is of the style's grammar, its keyword, and how many leading words the keyword takes."""
        out: dict[str, pl.Expr] = {}
        for k in readings:
            style = self.styles[k]
            payload = pl.col(f"_text_{k}")
            if style.payload == "json":  # the keyword is already read (``_json_keywords``)
                valid, keyword, skip = pl.col("_json"), pl.col(f"_keyword_{k}"), pl.lit(0)
            elif style.payload == "text":
                valid, keyword, skip = pl.lit(False), pl.lit(None, pl.String), pl.lit(0)
            elif style.keyword_key is not None:
                valid = payload.str.contains(self.starts["none"])
                last = payload.str.extract_all(f"(?:^| ){re.escape(style.keyword_key)}=[^ ]*").list.last()
                keyword = pl.when(valid).then(last.str.splitn("=", 2).struct.field("field_1"))
                skip = pl.lit(0)
            else:
                shaped = [(s, payload.str.contains(self.starts[KEYWORD_SHAPES[s]])) for s in style.keyword_shapes]
                valid = pl.any_horizontal([v for _, v in shaped])
                word: Any = pl
                count: Any = pl
                for shape, hit in shaped:
                    word = word.when(hit).then(
                        payload.str.extract(_KEYWORD_AT[shape], 1) if shape != "none" else pl.lit(None, pl.String)
                    )
                    count = count.when(hit).then(pl.lit(0 if shape == "none" else 1))
                keyword, skip = word.otherwise(None), count.otherwise(0)
            out |= {f"_valid_{k}": valid, f"_keyword_{k}": keyword, f"_skip_{k}": skip}
        return out

    def _rule_style(self, readings: list[int]) -> list[pl.Expr]:
        """``_text``, ``_valid``, ``_keyword``, ``_skip`` and ``_kkey`` (the keyword's key) of each row's rule's
        reading (one of ``readings``)."""
        style = pl.col("_rule").replace_strict(
            {r.index: r.style for r in self.rules}, default=None, return_dtype=pl.Int32
        )
        out = []
        for name, dtype in (("text", pl.String), ("valid", pl.Boolean), ("keyword", pl.String), ("skip", pl.Int32)):
            chain: Any = pl
            for k in readings:
                chain = chain.when(style == k).then(pl.col(f"_{name}_{k}"))
            out.append((chain.otherwise(None) if readings else pl.lit(None, dtype)).alias(f"_{name}"))
        keys = {k: s.keyword_key for k, s in enumerate(self.styles) if s.keyword_key is not None}
        kkey = style.replace_strict(keys, default=None, return_dtype=pl.String) if keys else pl.lit(None, pl.String)
        return [*out, kkey.alias("_kkey")]

    def _values(
        self, rows: pl.DataFrame, rules: list[_FastRule], json_leaves: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
        """Typed columns (``_v_<column>``) and attrs JSON per row (whose ``_rule`` is one of ``rules``), and
        the rows refused. A JSON rule's pairs are its row's ``json_leaves`` but its keyword's."""
        empty_i = pl.Series("_i", [], pl.Int64)
        if rows.is_empty():
            return (
                pl.DataFrame({"_i": empty_i}),
                pl.DataFrame({"_i": empty_i, "_attrs": pl.Series([], dtype=pl.String)}),
                empty_i,
            )
        json_rule = pl.col("_rule").is_in([r.index for r in rules if self.styles[r.style].payload == "json"])
        tokens = _tokens(rows.filter(~json_rule))
        json_pairs = (
            json_leaves.join(rows.filter(json_rule).select("_i", "_rule", "_kkey"), on="_i", maintain_order="left")
            .filter((pl.col("_key") != pl.col("_kkey")).fill_null(True))
            .select("_i", "_rule", "_key", "_val")
        )
        pairs = pl.concat([tokens.filter(pl.col("_key").is_not_null()), json_pairs])
        words = tokens.filter(pl.col("_key").is_null())
        refused = self._refusals(rows, pairs, rules)
        # (row, column, text) from key=value pairs, positional words, match groups and constants;
        # (row, attrs key, text) from unmapped pairs, extra words and attrs.* columns
        long_parts, attr_parts = self._pairs(pairs, rules)
        self._words(words, long_parts, attr_parts, rules)
        self._rule_values(rows, long_parts, rules)
        long = pl.concat([p.cast({"_i": pl.Int64, "_target": pl.String, "_val": pl.String}) for p in long_parts])
        long = self._mapped(long, rows, rules)
        is_attr = pl.col("_target").str.starts_with("attrs.")
        attr_parts.append(long.filter(is_attr).select("_i", _akey=pl.col("_target").str.slice(6), _val="_val"))
        wide, bad = typed(spread(long.filter(~is_attr, pl.col("_val") != ""), rows["_i"]))
        refused.append(bad)
        return (
            wide,
            attrs_json(pl.concat([p.cast({"_i": pl.Int64}) for p in attr_parts]), rows),
            pl.concat(refused).unique(),
        )

    def _refusals(self, rows: pl.DataFrame, pairs: pl.DataFrame, rules: list[_FastRule]) -> list[pl.Series]:
        """Rows whose columns or attrs would depend on which of two sources Python writes last."""
        # a key twice in one payload; a hash collision only sends a row to Lark
        refused = [pairs.filter((pl.col("_key").hash(7) ^ pl.col("_i").hash(11)).is_duplicated()).get_column("_i")]
        refuse = []
        for rule in rules:
            if rule.risky_keys and self.styles[rule.style].payload == "json":
                risky_pairs = pairs.filter(pl.col("_rule") == rule.index, pl.col("_key").is_in(rule.risky_keys))
                refused.append(risky_pairs.get_column("_i"))
            elif rule.risky_keys:
                risky = pl.col("_text").str.contains(
                    r"(?:^| )(?:" + "|".join(re.escape(k) for k in rule.risky_keys) + ")="
                )
                refused.append(rows.filter(pl.col("_rule") == rule.index).filter(risky).get_column("_i"))
        refuse.append(pl.col("_i").filter(pl.col("_text").str.contains(f"(?:^| ){WORDS_ATTR}=")))
        refuse.append(
            pl.col("_i").filter(pl.col("_program").is_not_null() & pl.col("_text").str.contains("(?:^| )program="))
        )
        outer = rows.filter(pl.col("_program").is_not_null()).get_column("_i")  # a JSON leaf "program" beside it
        refused.append(pairs.filter(pl.col("_key") == "program", pl.col("_i").is_in(outer.implode())).get_column("_i"))
        return refused + [rows.select(e).to_series() for e in refuse]

    def _pairs(self, pairs: pl.DataFrame, rules: list[_FastRule]) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
        """key=value pairs: mapped ones to their columns, the others to attrs."""
        mapping = pl.DataFrame(
            [(r.index, k, t) for r in rules for k, t in r.fields.items()],
            schema={"_rule": pl.Int32, "_key": pl.String, "_target": pl.String},
            orient="row",
        )
        tokens = pairs.join(mapping, on=["_rule", "_key"], how="left")
        return (
            [tokens.filter(pl.col("_target").is_not_null()).select("_i", "_target", "_val")],
            [tokens.filter(pl.col("_target").is_null()).select("_i", _akey=pl.col("_key"), _val=pl.col("_val"))],
        )

    def _words(
        self,
        words: pl.DataFrame,
        long_parts: list[pl.DataFrame],
        attr_parts: list[pl.DataFrame],
        rules: list[_FastRule],
    ) -> None:
        """Positional words: the rule's ``args`` in order, the rest joined into attrs."""
        args = pl.DataFrame(
            [(r.index, n, target) for r in rules for n, target in enumerate(r.args)],
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

    def _mapped(self, long: pl.DataFrame, rows: pl.DataFrame, rules: list[_FastRule]) -> pl.DataFrame:
        """(row, target, text) with each text through its rule's value map (``[values]``), as
        ``Dialects._columns`` does (a rule's constants are never mapped: they are not in ``values``)."""
        maps = pl.DataFrame(
            [(r.index, c, logged, word) for r in rules for c, m in r.values.items() for logged, word in m.items()],
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

    def _rule_values(self, rows: pl.DataFrame, long_parts: list[pl.DataFrame], rules: list[_FastRule]) -> None:
        """Each rule's ``match`` groups and ``set`` constants on its own rows."""
        for rule in rules:
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
    """(``_i``, ``_rule``, ``_key``, ``_val``) of each item after the keyword (``_skip`` words) of
    the valid payloads (``_text``: as their rule's reading has them), in order: a pair where the
    item holds "=", else a positional word (``_key`` null); the pairs of the keyword's key
    (``_kkey``) are left out, as the keyword.

    Valid means the payload matches the logfmt grammar, whose items are separated by spaces,
    whose keys hold no "=" and whose words hold none at all; so splitting is exact.
    """
    items = (
        rows.filter(pl.col("_valid"))
        .select("_i", "_rule", "_kkey", _val=pl.col("_text").str.split(" ").list.slice(pl.col("_skip")))
        .explode("_val")
    )
    halves = items.filter(pl.col("_val") != "").select("_i", "_rule", "_kkey", _s=pl.col("_val").str.splitn("=", 2))
    before, after = pl.col("_s").struct.field("field_0"), pl.col("_s").struct.field("field_1")
    key = pl.when(after.is_not_null()).then(before)
    return halves.select("_i", "_rule", _key=key, _val=pl.coalesce(after, before)).filter(
        pl.col("_key").is_null() | (pl.col("_key") != halves["_kkey"]).fill_null(True)
    )


def _polars_accepts(pattern: str) -> bool:
    """Whether Polars (Rust regex) can run ``pattern``."""
    try:
        pl.Series([""]).str.contains(pattern)
    except pl.exceptions.PolarsError:
        return False
    return True
