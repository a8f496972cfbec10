"""The column twin of ``interpret`` for plain jPOS blocks (the fast path of this format)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import polars as pl
from lark import Lark

from forensics.ingest.cards import HEX_SCREEN, ID_FIELDS
from forensics.ingest.emv import emv_tlv, emv_words
from forensics.ingest.fastpath import PLAIN, attrs_json, spread, strip_lookarounds, typed
from forensics.ingest.read import MAX_LINE

#: event tag -> kind of a block that is a message
EVENT_KINDS = {"receive": "host.rx", "send": "host.tx"}
#: DE55 lines whose reading is kept (``JposBlocks._de55``), those of at most ``_DE55_KEPT_LINE`` characters (a
#: DE55 holds at most 255 bytes, 510 hex digits): about 10 MiB at most
_DE55_CACHE = 1 << 12
_DE55_KEPT_LINE = 1024


class JposBlocks:
    """jPOS ``<log>`` blocks on whole columns: the column twin of ``interpret``
    for plain blocks (one ``<receive>`` or ``<send>`` holding one ``<isomsg>`` of ``<field>``s,
    a tag a line); any other block is refused to the Lark path.

    Line shapes come from the grammar's own terminals (LOG_OPEN, LOG_CLOSE, OPEN_TAG,
    CLOSE_TAG, EMPTY_TAG); what the tags mean is the twin's part.
    """

    def __init__(
        self,
        parser: Lark,
        iso: dict[str, str],
        open_terminal: str,
        close_terminal: str,
        untouched: Callable[[str], bool],
    ):
        term = {
            name: strip_lookarounds(parser.get_terminal(name).pattern.to_regexp())
            for name in (open_terminal, close_terminal, "OPEN_TAG", "CLOSE_TAG", "EMPTY_TAG")
        }
        self.open_anywhere = term[open_terminal]
        self.close_anywhere = term[close_terminal]
        self.log_open = "^(?:" + term[open_terminal] + ")$"
        self.log_close = "^(?:" + term[close_terminal] + ")$"
        self.one_tag = "^\\s*(?:" + "|".join(term[n] for n in ("OPEN_TAG", "CLOSE_TAG", "EMPTY_TAG")) + ")\\s*$"
        # a comment alone on its line inside the message (jPOS writes its packager's name so): read as nothing
        self.comment = r"^\s*<!--(?:[^-]|-[^-])*-->\s*$"
        self.iso = iso
        self.untouched = untouched  # whether the card guard leaves a line as it is (a DE55 line: no card tag)
        # a terminal sends the same DE55 again and again (only its counter moves): each line read once
        self._read_de55 = functools.lru_cache(maxsize=_DE55_CACHE)(self._de55)

    def parse(self, lines: pl.Series, screen: str) -> tuple[pl.DataFrame, pl.Series]:
        """Event rows of the blocks settled here (``line``, ``line_end``, ``text`` and columns),
        and the 0-based indexes of every other line."""
        frame = pl.DataFrame({"text": lines}).with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
        text = pl.col("text")
        frame = frame.with_columns(
            _start=text.str.contains(self.open_anywhere), _end=text.str.contains(self.close_anywhere)
        )
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
        # one-pass (each character has one way through), which Polars' regex engine captures fastest
        field = text.str.extract_groups(
            r'^\s*<field id="(?P<id>[^"]*)" value="(?P<value>[^"]*)"(?:\s+(?:type="[^"]*"\s*)?)?/>\s*$'
        )
        lines = member.with_columns(
            _tag=tag,
            _closing=text.str.contains(r"^\s*</"),
            _empty=text.str.contains(r"/>\s*$"),
            _fid=field.struct.field("id"),
            _fval=field.struct.field("value").str.strip_chars(" "),  # jPOS pads fixed fields
            _plain=text.str.contains(PLAIN) & ~text.str.contains(r"\\"),
        ).with_columns(
            _pos=pl.int_range(pl.len()).over("_block"),
            _n=pl.len().over("_block"),
        )
        emv = self._emv(lines)
        lines = lines.join(emv.select("_i", "_emv_ok"), on="_i", how="left", maintain_order="left")
        masked = pl.col("_fval").str.contains(r"^\d{6}[*_Xx#]{3,9}\d{4}$")
        tlv = pl.col("_emv_ok").fill_null(False)
        card_line = (pl.col("_fid") == "2") & masked
        tlv_line = (pl.col("_fid") == "55") & tlv
        # the card guard leaves digits alone in fields that hold ids (STAN, RRN, TID, MID ...)
        id_line = pl.col("_fid").is_in(list(ID_FIELDS)) & pl.col("_fval").str.contains(r"^\d*$")
        lines = lines.with_columns(
            _text=pl.when(card_line)
            .then(
                pl.concat_str(  # the card guard's one fill for masked PANs
                    text.str.extract(r'^(.*value=")', 1),
                    star_fill(pl.col("_fval")),
                    text.str.extract(r'^.*value="[^"]*(".*)$', 1),
                )
            )
            .otherwise(text),
            _ok=pl.col("_plain")
            & (card_line | tlv_line | id_line | ~(text.str.contains(screen) | text.str.contains(HEX_SCREEN)))
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
                text.str.contains(self.comment)
                | (
                    pl.col("_fid").is_not_null()
                    & ((pl.col("_fid") != "2") | masked)
                    & ((pl.col("_fid") != "55") | tlv)
                    # DE4 other than ISO minor units (CMF, decimal) is read by ``amount`` on the Lark path
                    & ((pl.col("_fid") != "4") | pl.col("_fval").str.contains(r"^\d{0,12}$"))
                )
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
            pl.col("_event").is_in(list(EVENT_KINDS)),
            pl.col("_event") == pl.col("_close_event"),
        )
        header = pl.col("_header").str.extract_groups(
            r'^<log realm="(?P<realm>[^"]*)" at="(?P<at>[^"]*)"(?: lifespan="(?P<lifespan>[^"]*)")?>$'
        )
        blocks = blocks.with_columns(_h=header).unnest("_h").filter(pl.col("at").is_not_null())
        fields = lines.filter(pl.col("_fid").is_not_null(), pl.col("_block").is_in(blocks["_block"].implode()))
        tags = (  # DE55's top-level tags as fields 55.<tag>, as ``interpret`` adds them
            fields.filter(pl.col("_fid") == "55")
            .select("_block", "_i")
            .join(emv.select("_i", "_tags"), on="_i")
            .explode("_tags")
            .filter(pl.col("_tags").is_not_null())
            .select("_block", _fid=pl.col("_tags").struct.field("tag"), _fval=pl.col("_tags").struct.field("value"))
        )
        fields = pl.concat([fields.select("_block", "_fid", "_fval"), tags]).with_columns(
            _fval=pl.when(pl.col("_fid") == "2").then(star_fill(pl.col("_fval"))).otherwise(pl.col("_fval"))
        )
        words = (
            lines.filter(pl.col("_fid") == "55", pl.col("_block").is_in(blocks["_block"].implode()))
            .select("_block", "_i")
            .join(emv.select("_i", "_words"), on="_i")
            .filter(pl.col("_words").is_not_null())
            .join(blocks.select("_block", _first=pl.col("_i")), on="_block")
            .select(_i=pl.col("_first"), _akey=pl.lit("emv"), _val=pl.col("_words"))
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
                    "_i", _akey=pl.lit("lifespan_ms"), _val=pl.col("lifespan").str.strip_suffix("ms").str.strip_chars()
                ),
                words,
            ]
        )
        wide, bad = typed(spread(long, blocks["_i"]))
        json = attrs_json(attrs, blocks.select("_i", _program=pl.lit(None, pl.String)))
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
            kind=pl.col("_event").replace_strict(EVENT_KINDS, return_dtype=pl.String),
            attrs=pl.col("_attrs"),
            _i_all=pl.col("_i_all"),
            **values,
        )

    def _emv(self, lines: pl.DataFrame) -> pl.DataFrame:
        """Each DE55 line (``_i``): whether the card guard leaves it as it is (``_emv_ok``), its top-level tags
        as fields ``55.<tag>`` (``_tags``) and the DE55 in words (``_words``), as ``interpret`` reads them."""
        de55 = lines.filter(pl.col("_fid") == "55").select("_i", "text", "_fval")
        rows = [
            (text, *(self._read_de55 if len(text) <= _DE55_KEPT_LINE else self._de55)(text, value))
            for text, value in de55.select("text", "_fval").unique().iter_rows()
        ]
        schema = {
            "text": pl.String,
            "_emv_ok": pl.Boolean,
            "_tags": pl.List(pl.Struct({"tag": pl.String, "value": pl.String})),
            "_words": pl.String,
        }
        read = pl.DataFrame(rows, schema=schema, orient="row")
        return de55.join(read, on="text", how="left", maintain_order="left").drop("text", "_fval")

    def _de55(self, text: str, value: str) -> tuple[bool, list[dict[str, str]], str | None]:
        tags = emv_tlv(value)
        return self.untouched(text), [{"tag": f"55.{tag}", "value": v} for tag, v in tags.items()], emv_words(tags)


def star_fill(masked: pl.Expr) -> pl.Expr:
    """``476173______0010`` -> ``476173******0010`` (a masked PAN of any fill, as the card guard writes it)."""
    return pl.concat_str(
        masked.str.slice(0, 6), pl.lit("*" * 9).str.slice(0, masked.str.len_chars() - 10), masked.str.slice(-4)
    )
