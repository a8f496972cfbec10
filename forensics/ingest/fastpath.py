"""The fast path: a line grammar's regular part as one regular expression over whole columns.

Nothing here defines a format. ``compile_grammar`` reads a Lark grammar's own rule tree and
terminals and writes its start rule's alternatives as one regular expression (a capture
group per kept terminal, an empty witness group per alternative); Polars runs it on a whole
column in Rust. Each format's transformer has a vectorized twin (``envelopes.VECTORIZED``)
and the dialect rules are applied with column expressions (``FastDialects``). jPOS blocks
are not regular; ``JposBlocks`` takes the plain ones line by line with the grammar's tag
terminals and gives them ``interpret_jpos``'s meaning on columns.

The fast path only takes lines it is sure of: plain printable ASCII, no card data to mask,
not part of a multi-line record, a dialect payload without quotes, duplicate keys or values
the typed columns would refuse. Every other line goes to the Lark parser, and a differential
test (tests/test_fastpath.py) requires identical rows from both paths. Grammars are written so
that every lookahead is implied by the terminal that follows it, since Rust regular
expressions have none; the compiler drops lookarounds.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
from lark import Lark, Token, Tree
from lark.grammar import NonTerminal, Terminal

from forensics.events import EVENTS_SCHEMA
from forensics.ingest.dialect import WORDS_ATTR, Dialects, Rule
from forensics.ingest.read import MAX_LINE
from forensics.money import currency_columns, major_columns

#: Lines the fast path may take: printable ASCII and tabs only.
_PLAIN = r"^[\x20-\x7e\t]*$"
#: ISO 8583 fields that hold ids, never a card number (STAN, acquiring and forwarding institution,
#: RRN, TID, MID): the card guard leaves their digits alone, so the fast path may take them.
ID_FIELDS = ("11", "32", "33", "37", "41", "42")
#: How a line continues the record before it (syslog continuation, Java stack trace) and the
#: tags whose records may span lines (logcat crash traces).
CONTINUATION_STARTS = (" ", "\t", "Caused by:", "...")
CRASH_TAGS = ("AndroidRuntime", "DEBUG")
_CONTINUATION = "^(?:" + "|".join(re.escape(s) for s in CONTINUATION_STARTS) + ")"
_CRASH = "|".join(re.escape(t) for t in CRASH_TAGS)
#: Characters JSON escapes (of those a plain line may hold): values with them take the Lark
#: path, since the fast path writes ``attrs`` JSON by concatenation.
_JSON_ESCAPED = r'["\\\t]'


class NotRegular(ValueError):
    """A part of a grammar the fast path cannot express (recursion, captures under repetition)."""


def strip_lookarounds(pattern: str) -> str:
    """``pattern`` without its (?=...), (?!...), (?<=...) and (?<!...) groups."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            i = _group_end(pattern, i)
            continue
        j = _atom_end(pattern, i)
        out.append(pattern[i:j])
        i = j
    return "".join(out)


def _atom_end(pattern: str, i: int) -> int:
    """End of the escape, character class or single character at ``i``."""
    if pattern[i] == "\\":
        return i + 2
    if pattern[i] == "[":
        j = i + 1
        if j < len(pattern) and pattern[j] == "^":
            j += 1
        if j < len(pattern) and pattern[j] == "]":
            j += 1
        while j < len(pattern) and pattern[j] != "]":
            j += 2 if pattern[j] == "\\" else 1
        return j + 1
    return i + 1


def _group_end(pattern: str, i: int) -> int:
    """Index just past the group opening at ``i``."""
    depth = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i = _atom_end(pattern, i)
    raise NotRegular(f"unbalanced group in {pattern!r}")


@dataclass
class Alternative:
    """One start-rule alternative: its transformer method and its capture groups.

    When the alternative ends with a rest-of-line terminal (``.+``), the expression takes only
    that terminal's first character (``rest``), so the capture engine stops there; ``span``
    captures the whole match, and the rest is the line from the match's last character on.
    """

    name: str
    witness: str
    children: list[str]
    rest: str | None = None
    span: str | None = None


@dataclass
class LineRegex:
    """A grammar's start rule as one anchored regular expression."""

    pattern: str
    alternatives: list[Alternative]


class _Compiler:
    def __init__(self, parser: Lark, captures: bool):
        self.parser = parser
        self.captures = captures
        self.rules = {str(name): tree for name, _params, tree, _options in parser.grammar.rule_defs}
        self.groups = 0
        self.active: set[str] = set()

    def node(self, t: Any, kept: list[str], repeated: bool) -> str:
        if not isinstance(t, Tree):
            return self.symbol(t, kept, repeated)
        if t.data == "expansions":
            return "(?:" + "|".join(self.node(c, kept, repeated) for c in t.children) + ")"
        if t.data == "expansion":
            return "".join(self.node(c, kept, repeated) for c in t.children)
        if t.data == "alias":
            if self.captures:
                raise NotRegular("alias below the start rule")
            return self.node(t.children[0], kept, repeated)
        if t.data == "maybe":
            return "(?:" + self.node(t.children[0], kept, repeated) + ")?"
        if t.data == "expr":
            if len(t.children) != 2 or str(t.children[1]) not in ("?", "*", "+"):
                raise NotRegular("repetition range")
            op = str(t.children[1])
            inner: list[str] = []
            body = self.node(t.children[0], inner, repeated or op != "?")
            if inner and op == "?":
                raise NotRegular("optional without placeholder holds a kept terminal")
            kept.extend(inner)
            return "(?:" + body + ")" + op
        if t.data == "value":
            return self.symbol(t.children[0], kept, repeated)
        if t.data == "literal":
            return self.literal(t.children[0])
        raise NotRegular(f"grammar construct {t.data!r}")

    def literal(self, token: Token) -> str:
        if token.type != "STRING" or not token.value.endswith('"'):
            raise NotRegular(f"inline pattern {token.value!r}")
        return re.escape(ast.literal_eval(token.value))

    def symbol(self, sym: Any, kept: list[str], repeated: bool) -> str:
        if isinstance(sym, Tree):
            return self.node(sym, kept, repeated)
        if isinstance(sym, NonTerminal):
            if self.captures or sym.name in self.active:
                raise NotRegular(f"rule {sym.name!r}")
            self.active.add(sym.name)
            try:
                return self.node(self.rules[sym.name], kept, repeated)
            finally:
                self.active.discard(sym.name)
        if isinstance(sym, Terminal):
            regex = strip_lookarounds(self.parser.get_terminal(sym.name).pattern.to_regexp())
            if not self.captures or sym.name.startswith("_"):
                return "(?:" + regex + ")"
            if repeated:
                raise NotRegular(f"terminal {sym.name} under repetition")
            self.groups += 1
            name = f"g{self.groups}"
            kept.append(name)
            return f"(?P<{name}>{regex})"
        raise NotRegular(f"symbol {sym!r}")


def compile_grammar(parser: Lark, captures: bool = True) -> LineRegex:
    """The start rule of ``parser``'s grammar as one anchored regular expression.

    With ``captures``, each alternative the transformer sees (``-> alias``, else ``start``)
    gets a witness group and a group per kept terminal; alternatives that reach other rules
    are left out (their lines take the Lark path), and one that ends in a rest-of-line
    terminal stops after its first character (see ``Alternative``; ``envelope`` checks the
    end). Without, the whole rule is inlined.
    """
    compiler = _Compiler(parser, captures)
    start = compiler.rules["start"]
    alternatives: list[Alternative] = []
    bodies: list[str] = []
    for i, alt in enumerate(start.children):
        name = "start"
        if alt.data == "alias":
            alt, name = alt.children[0], alt.children[1].name
        kept: list[str] = []
        try:
            body = compiler.node(alt, kept, False)
        except NotRegular:
            if not captures:
                raise
            continue
        witness = f"w{i}"
        if not captures:
            bodies.append(body)
            continue
        rest = _REST.search(body) if kept else None
        if rest is not None and rest.group(1) == kept[-1]:
            # nothing but closing groups follows the rest group: the match may stop after its first character
            span = f"s{i}"
            alternatives.append(Alternative(name, witness, kept, rest=kept[-1], span=span))
            bodies.append(f"(?P<{witness}>)(?P<{span}>{body[: rest.start()]}(?P<{kept[-1]}>.){rest.group(2)})")
        else:
            alternatives.append(Alternative(name, witness, kept))
            bodies.append(f"(?P<{witness}>)(?:{body})$")
    if not bodies:
        raise NotRegular("no regular alternative")
    return LineRegex("^(?:" + "|".join(bodies) + ")" + ("" if captures else "$"), alternatives)


#: A rest-of-line capture group with nothing but group closings after it.
_REST = re.compile(r"\(\?P<(g\d+)>\.\+\)((?:\)\??)*)$")


Twin = Callable[[list[pl.Expr]], dict[str, pl.Expr]]


def envelope(lines: pl.DataFrame, regex: LineRegex, twins: dict[str, Twin]) -> pl.DataFrame:
    """Event columns (by each alternative's twin) of the lines ``regex`` matches.

    ``lines`` has ``_i`` and ``text``; rows no alternative with a twin matches are dropped, and
    so are rows with a value that does not convert to its column's type.
    """
    usable = [a for a in regex.alternatives if a.name in twins]
    parts = lines.with_columns(_m=pl.col("text").str.extract_groups(regex.pattern)).unnest("_m")
    hits, rests = {}, []
    for alt in usable:
        hits[alt.witness] = pl.col(alt.witness).is_not_null()
        if alt.rest is not None:  # stopped early: the rest of the line, or a match that reaches its end
            span_end = pl.col(str(alt.span)).str.len_chars()
            hits[alt.witness] &= pl.col(alt.rest).is_not_null() | (span_end == pl.col("text").str.len_chars())
            rests.append(
                pl.when(pl.col(alt.rest).is_not_null()).then(pl.col("text").str.slice(span_end - 1)).alias(alt.rest)
            )
    parts = parts.filter(pl.any_horizontal(list(hits.values())) if usable else pl.lit(False)).with_columns(rests)
    columns: dict[str, list[tuple[pl.Expr, pl.Expr]]] = {}
    for alt in usable:
        hit = hits[alt.witness]
        for name, expr in twins[alt.name]([pl.col(g) for g in alt.children]).items():
            columns.setdefault(name, []).append((hit, expr))
    exprs = []
    for name, cases in columns.items():
        chain: Any = pl
        for hit, expr in cases:
            chain = chain.when(hit).then(expr)
        exprs.append(chain.otherwise(None).alias(name))
    raw = parts.select("_i", "text", *exprs)
    typed = {name: pl.col(name).cast(EVENTS_SCHEMA[name], strict=False) for name in columns}
    # a number too long for its column: Lark reports the line
    bad = [pl.col(name).is_not_null() & typed[name].is_null() for name in columns if EVENTS_SCHEMA[name].is_numeric()]
    return raw.filter(~pl.any_horizontal(bad) if bad else pl.lit(True)).with_columns(
        cast.alias(name) for name, cast in typed.items()
    )


def eligible(text: pl.Expr, guard_pattern: str) -> pl.Expr:
    """Lines the fast path may take at all (before its grammar and dialects are tried)."""
    return (
        (text.str.len_chars() <= MAX_LINE)
        & text.str.contains(_PLAIN)
        & ~text.str.contains(guard_pattern)
        & (text.str.strip_chars() != "")
    )


def context_lines(text: pl.Series) -> pl.Series:
    """Lines that belong to, or open, a multi-line record (with the line before each)."""
    marks = text.str.contains(_CONTINUATION) | text.str.contains(_CRASH)
    return marks | marks.shift(-1, fill_value=False)


# ----------------------------------------------------------------------------- dialects


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


class FastDialects:
    """The dialect rules as column expressions; rows they cannot settle exactly are refused."""

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
        fields = dict(iso) if rule.fields is None else dict(rule.fields)
        groups = set(rule.match.groupindex) if rule.match is not None else set()
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
        is_attr = pl.col("_target").str.starts_with("attrs.")
        attr_parts.append(long.filter(is_attr).select("_i", _akey=pl.col("_target").str.slice(6), _val="_val"))
        wide, bad = _typed(_spread(long.filter(~is_attr, pl.col("_val") != ""), rows["_i"]))
        refused.append(bad)
        return (
            wide,
            _attrs_json(pl.concat([p.cast({"_i": pl.Int64}) for p in attr_parts]), rows),
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

    def _rule_values(self, rows: pl.DataFrame, long_parts: list[pl.DataFrame]) -> None:
        """Each rule's ``match`` groups and ``set`` constants on its own rows."""
        for rule in self.rules:
            mine = rows.filter(pl.col("_rule") == rule.index)
            if mine.is_empty():
                continue
            if rule.match is not None and re.compile(rule.match).groupindex:
                got = mine.select("_i", _g=pl.col("_payload").str.extract_groups(rule.match)).unnest("_g")
                long_parts.append(
                    got.unpivot(index="_i", variable_name="_target", value_name="_val").drop_nulls("_val")
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


def _attrs_json(attrs: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """``_attrs``: a JSON object per row from (row, key, text), keys sorted, the outer program added."""
    program = rows.filter(pl.col("_program").is_not_null(), pl.col("_i").is_in(attrs["_i"].implode())).select(
        "_i", _akey=pl.lit("program"), _val=pl.col("_program")
    )
    return (
        pl.concat([attrs, program])
        .sort("_i", "_akey")
        .group_by("_i", maintain_order=True)
        .agg(pl.format('"{}":"{}"', pl.col("_akey"), pl.col("_val")).str.join(",").alias("_body"))
        .select("_i", _attrs=pl.concat_str(pl.lit("{"), pl.col("_body"), pl.lit("}")))
    )


def _spread(long: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
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


def _typed(wide: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """``_v_<column>`` typed values from text values; the rows where a value would not convert."""
    have = sorted(set(wide.columns) - {"_i"})
    cur_exp = pl.lit(None, pl.Int64)
    if "currency" in have:  # looked up once, used by every amount
        code, exponent = currency_columns(pl.col("currency"))
        wide = wide.with_columns(
            _v_currency=pl.coalesce(code, pl.col("currency").str.strip_chars().str.to_uppercase()), _cexp=exponent
        )
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


@dataclass
class FastFormat:
    """What the fast path needs for one line format."""

    name: str
    regex: LineRegex
    twins: dict[str, Twin]


def parse(lines: pl.Series, fmt: FastFormat, dialects: FastDialects, screen: str) -> tuple[pl.DataFrame, pl.Series]:
    """Event rows of the lines the fast path settles, and the 0-based indexes of the rest.

    Rows carry ``line`` (1-based) and every event column but ``path``, ``format`` and ``ts``.
    """
    frame = pl.DataFrame({"text": lines}).with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
    ok = eligible(pl.col("text"), screen) & ~context_lines(frame["text"])
    env = envelope(frame.filter(ok), fmt.regex, fmt.twins)
    for name in ("kind", "tag", "message", "attrs"):
        if name not in env.columns:
            env = env.with_columns(pl.lit(None, pl.String).alias(name))
    done = dialects.apply(env).filter(~pl.col("_refuse"))
    rest = frame.select("_i").filter(~pl.col("_i").is_in(done["_i"].implode())).to_series()
    done = done.with_columns(line=pl.col("_i") + 1, line_end=pl.col("_i") + 1).drop("_i", "_refuse")
    return done, rest


class JposBlocks:
    """jPOS ``<log>`` blocks on whole columns: the column twin of ``envelopes.interpret_jpos``
    for plain blocks (one ``<receive>`` or ``<send>`` holding one ``<isomsg>`` of ``<field>``s,
    a tag a line); any other block is refused to the Lark path.

    Line shapes come from the grammar's own terminals (LOG_OPEN, LOG_CLOSE, OPEN_TAG,
    CLOSE_TAG, EMPTY_TAG); what the tags mean is the twin's part.
    """

    _EVENTS = {"receive": "host.rx", "send": "host.tx"}

    def __init__(self, parser: Lark, iso: dict[str, str]):
        term = {
            name: strip_lookarounds(parser.get_terminal(name).pattern.to_regexp())
            for name in ("LOG_OPEN", "LOG_CLOSE", "OPEN_TAG", "CLOSE_TAG", "EMPTY_TAG")
        }
        self.open_anywhere = term["LOG_OPEN"]
        self.log_open = "^(?:" + term["LOG_OPEN"] + ")$"
        self.log_close = "^(?:" + term["LOG_CLOSE"] + ")$"
        self.one_tag = "^\\s*(?:" + "|".join(term[n] for n in ("OPEN_TAG", "CLOSE_TAG", "EMPTY_TAG")) + ")\\s*$"
        self.iso = iso

    def parse(self, lines: pl.Series, screen: str) -> tuple[pl.DataFrame, pl.Series]:
        """Event rows of the blocks settled here (``line``, ``line_end``, ``text`` and columns),
        and the 0-based indexes of every other line."""
        frame = pl.DataFrame({"text": lines}).with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
        text = pl.col("text")
        frame = frame.with_columns(_start=text.str.contains(self.open_anywhere), _end=text.str.contains("</log>"))
        ambiguous = (
            frame.filter(pl.col("_start") & pl.col("_end")).height
            or frame.filter(pl.col("_start") & (text.str.len_chars() > MAX_LINE)).height
        )
        if ambiguous:  # where a block opens and closes on one line, block framing is left to Lark
            return pl.DataFrame(schema={"_i": pl.Int64, "line": pl.Int64, "line_end": pl.Int64}), frame["_i"]
        last_start = pl.when(pl.col("_start")).then(pl.col("_i")).forward_fill()
        last_end = pl.when(pl.col("_end")).then(pl.col("_i")).forward_fill()
        inside_after = last_start.is_not_null() & (last_end.is_null() | (last_start > last_end))
        frame = frame.with_columns(_inside_before=inside_after.shift(1, fill_value=False))
        frame = frame.with_columns(_first=pl.col("_start") & ~pl.col("_inside_before"))
        frame = frame.with_columns(
            _block=pl.col("_first").cum_sum(), _member=pl.col("_first") | pl.col("_inside_before")
        )
        rows = self._plain_blocks(frame.filter(pl.col("_member")), screen)
        rest = frame.select("_i").filter(~pl.col("_i").is_in(rows["_i_all"].explode().implode())).to_series()
        return rows.drop("_i_all"), rest

    def _plain_blocks(self, member: pl.DataFrame, screen: str) -> pl.DataFrame:
        text = pl.col("text")
        tag = text.str.extract(r"^\s*</?([A-Za-z][\w.:-]*)", 1)
        field = text.str.extract_groups(
            r'^\s*<field id="(?P<id>[^"]*)" value="(?P<value>[^"]*)"(?:\s+type="[^"]*")?\s*/>\s*$'
        )
        lines = member.with_columns(
            _tag=tag,
            _closing=text.str.contains(r"^\s*</"),
            _empty=text.str.contains(r"/>\s*$"),
            _fid=field.struct.field("id"),
            _fval=field.struct.field("value"),
            _plain=text.str.contains(_PLAIN) & ~text.str.contains(r"\\"),
        ).with_columns(
            _pos=pl.int_range(pl.len()).over("_block"),
            _n=pl.len().over("_block"),
        )
        masked = pl.col("_fval").str.contains(r"^\d{6}[*_Xx#]{3,9}\d{4}$")
        tlv = pl.col("_fval").str.contains(r"^9F3602[0-9A-F]{4}$")
        card_line = (pl.col("_fid") == "2") & masked
        tlv_line = (pl.col("_fid") == "55") & tlv
        # the card guard leaves digits alone in fields that hold ids (STAN, RRN, TID, MID ...)
        id_line = pl.col("_fid").is_in(list(ID_FIELDS)) & pl.col("_fval").str.contains(r"^\d*$")
        lines = lines.with_columns(
            _text=pl.when(card_line)
            .then(
                pl.concat_str(  # the card guard's one fill for masked PANs
                    text.str.extract(r'^(.*value=")', 1),
                    _star_fill(pl.col("_fval")),
                    text.str.extract(r'^.*value="[^"]*(".*)$', 1),
                )
            )
            .otherwise(text),
            _ok=pl.col("_plain")
            & (card_line | tlv_line | id_line | ~text.str.contains(screen))
            & pl.when(pl.col("_pos") == 0)
            .then(text.str.contains(self.log_open))
            .when(pl.col("_pos") == pl.col("_n") - 1)
            .then(text.str.contains(self.log_close))
            .when((pl.col("_pos") <= 2) | (pl.col("_pos") >= pl.col("_n") - 3))
            .then(  # event and isomsg tags
                text.str.contains(self.one_tag)
                & ~pl.col("_empty")
                & (pl.col("_closing") == (pl.col("_pos") >= pl.col("_n") - 3))
                & (((pl.col("_pos") == 2) | (pl.col("_pos") == pl.col("_n") - 3)) == (pl.col("_tag") == "isomsg"))
            )
            .otherwise(
                pl.col("_fid").is_not_null() & ((pl.col("_fid") != "2") | masked) & ((pl.col("_fid") != "55") | tlv)
            ),
        )
        blocks = lines.group_by("_block", maintain_order=True).agg(
            _i=pl.col("_i").first(),
            _last=pl.col("_i").last(),
            _n=pl.len(),
            _i_all=pl.col("_i"),
            _ok=pl.col("_ok").all(),
            _event=pl.col("_tag").get(1, null_on_oob=True),
            _close_event=pl.col("_tag").get(-2, null_on_oob=True),
            _dup=pl.col("_fid").drop_nulls().is_duplicated().any(),
            text=pl.col("_text").str.join("\n"),
            _header=pl.col("text").first(),
        )
        blocks = blocks.filter(
            pl.col("_ok"),
            pl.col("_n") >= 5,
            ~pl.col("_dup"),
            pl.col("_event").is_in(list(self._EVENTS)),
            pl.col("_event") == pl.col("_close_event"),
        )
        header = pl.col("_header").str.extract_groups(
            r'^<log realm="(?P<realm>[^"]*)" at="(?P<at>[^"]*)"(?: lifespan="(?P<lifespan>[^"]*)")?>$'
        )
        blocks = blocks.with_columns(_h=header).unnest("_h").filter(pl.col("at").is_not_null())
        fields = lines.filter(pl.col("_fid").is_not_null(), pl.col("_block").is_in(blocks["_block"].implode()))
        fields = pl.concat(
            [
                fields.select("_block", "_fid", "_fval"),
                fields.filter(pl.col("_fid") == "55").select(
                    "_block", _fid=pl.lit("55.9F36"), _fval=pl.col("_fval").str.slice(6)
                ),
            ]
        ).with_columns(
            _fval=pl.when(pl.col("_fid") == "2").then(_star_fill(pl.col("_fval"))).otherwise(pl.col("_fval"))
        )
        mapping = pl.DataFrame(
            {"_fid": list(self.iso), "_target": list(self.iso.values())},
            schema={"_fid": pl.String, "_target": pl.String},
        )
        fields = fields.join(mapping, on="_fid", how="left").join(blocks.select("_block", "_i"), on="_block")
        long = fields.filter(pl.col("_target").is_not_null(), pl.col("_fval") != "").select(
            "_i", "_target", _val=pl.col("_fval")
        )
        attrs = pl.concat(
            [
                fields.filter(pl.col("_target").is_null()).select(
                    "_i", _akey=pl.concat_str(pl.lit("DE"), pl.col("_fid")), _val=pl.col("_fval")
                ),
                blocks.filter(pl.col("lifespan").is_not_null()).select(
                    "_i", _akey=pl.lit("lifespan_ms"), _val=pl.col("lifespan").str.strip_suffix("ms")
                ),
            ]
        )
        wide, bad = _typed(_spread(long, blocks["_i"]))
        json = _attrs_json(attrs, blocks.select("_i", _program=pl.lit(None, pl.String)))
        out = (
            blocks.join(wide, on="_i", how="left")
            .join(json, on="_i", how="left")
            .filter(~pl.col("_i").is_in(bad.implode()))
        )
        values = {c[3:]: pl.col(c) for c in wide.columns if c.startswith("_v_")}
        return out.select(
            pl.col("_i"),
            line=pl.col("_i") + 1,
            line_end=pl.col("_last") + 1,
            text=pl.col("text"),
            ts_raw=pl.col("at"),
            host=pl.col("realm"),
            tag=pl.col("_event"),
            kind=pl.col("_event").replace_strict(self._EVENTS, return_dtype=pl.String),
            attrs=pl.col("_attrs"),
            _i_all=pl.col("_i_all"),
            **values,
        )


def _star_fill(masked: pl.Expr) -> pl.Expr:
    """``476173______0010`` -> ``476173******0010`` (a masked PAN of any fill, as the card guard writes it)."""
    return pl.concat_str(
        masked.str.slice(0, 6), pl.lit("*" * 9).str.slice(0, masked.str.len_chars() - 10), masked.str.slice(-4)
    )


#: Block formats with a column twin (format name -> twin).
BLOCK_TWINS: dict[str, type[JposBlocks]] = {"jpos": JposBlocks}
