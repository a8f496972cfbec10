"""Compiler: a Lark grammar's start rule as one regular expression (the fast path's matcher).

Reads the grammar's own rule tree and terminals: a capture group per kept terminal, an empty
witness group per alternative. Rust regular expressions have no lookarounds, so they are
dropped; grammars are written so that every lookahead is implied by the terminal after it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Tree
from lark.grammar import NonTerminal, Terminal


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
    ``pattern`` is the alternative alone, anchored, with the same groups: it matches a line
    where the whole expression takes this alternative, unless an earlier one matches first.
    """

    name: str
    witness: str
    children: list[str]
    rest: str | None = None
    span: str | None = None
    pattern: str = ""


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


def compile_grammar(parser: Lark, captures: bool = True, start: str = "start") -> LineRegex:
    """The start rule (or rule ``start``) of ``parser``'s grammar as one anchored regular expression.

    With ``captures``, each alternative the transformer sees (``-> alias``, else ``start``)
    gets a witness group and a group per kept terminal; alternatives that reach other rules
    are left out (their lines take the Lark path), and one that ends in a rest-of-line
    terminal stops after its first character (see ``Alternative``; ``envelope`` checks the
    end). Without, the whole rule is inlined.
    """
    compiler = _Compiler(parser, captures)
    alternatives: list[Alternative] = []
    bodies: list[str] = []
    for i, alt in enumerate(compiler.rules[start].children):
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
            bodies.append(f"(?P<{witness}>)(?P<{span}>{body[: rest.start()]}(?P<{kept[-1]}>.){rest.group(2)})")
            alternatives.append(Alternative(name, witness, kept, kept[-1], span, f"^(?:{bodies[-1]})"))
        else:
            bodies.append(f"(?P<{witness}>)(?:{body})$")
            alternatives.append(Alternative(name, witness, kept, pattern=f"^(?:{bodies[-1]})"))
    if not bodies:
        raise NotRegular("no regular alternative")
    return LineRegex("^(?:" + "|".join(bodies) + ")" + ("" if captures else "$"), alternatives)


#: A rest-of-line capture group with nothing but group closings after it.
_REST = re.compile(r"\(\?P<(g\d+)>\.\+\)((?:\)\??)*)$")
