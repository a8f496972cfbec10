"""The errors forensics raises for a problem the user can fix: one base, one class per kind.

The CLI catches `ForensicsError` and prints its message on one line; the library raises the
subclasses, so a notebook can catch exactly the kind it expects. A problem with one line of
one input is never an error: that line goes to the unparsed table with its reason.
"""


class ForensicsError(Exception):
    """A problem with an input, an option or a data file that the user can fix."""


class InputError(ForensicsError):
    """An input cannot be read at all (missing, a directory, no permission)."""


class OutputError(ForensicsError):
    """An output that must not or cannot be written (it would overwrite an input)."""


class ClockError(ForensicsError, ValueError):
    """A time zone or year option cannot be used."""


class FormatError(ForensicsError, ValueError):
    """The format registry or a grammar is malformed, or a sample does not parse as declared."""


class DialectError(ForensicsError, ValueError):
    """A dialect file is malformed: the message names the file, rule and field."""


class RuleError(ForensicsError, ValueError):
    """A rule file is malformed; the message names the file, the rule id and the field."""
