"""Which topics to mirror: MirrorMaker-compatible ``--include`` / ``--exclude`` regular expressions.

Classic MirrorMaker (``kafka.tools.MirrorMaker`` with ``--whitelist``, later ``--include``; the
old-consumer ``--blacklist``) selected topics with a *Java* regular expression that had to match
the **whole** topic name (``String.matches``), after this clean-up of the user's text
(``org.apache.kafka.server.util.TopicFilter`` in Kafka 3.9, ``kafka.utils.TopicFilter`` /
``kafka.consumer.TopicFilter`` before that)::

    rawRegex.trim().replace(',', '|').replace(" ", "")
            .replaceAll("^[\"']+", "")
            .replaceAll("[\"']+$", "")   // property files may bring quotes

so ``a,b`` meant ``a|b``, every space was dropped (``a, b`` worked) and surrounding quotes were
ignored. Internal topics (``__consumer_offsets``, ``__transaction_state``) were never mirrored.

kmirror keeps that contract with these deliberate, documented differences:

* **Commas.** MirrorMaker replaced *every* comma. kmirror turns a comma into ``|`` only where it
  is regex syntax (anywhere outside ``[...]``, ``\\Q...\\E``, ``{m,n}`` and ``\\,``), so
  ``a{1,3}`` is a quantifier (MirrorMaker rejected it as "Unclosed counted closure"). Inside
  ``[...]``/``\\Q..\\E`` the difference cannot change which topics match: legal topic names
  contain neither ``,`` nor ``|``. Commas inside groups still split: ``x\\.(eu,us)`` is
  ``x\\.(eu|us)``.
* **Whitespace.** Leading/trailing whitespace and quotes are stripped, and whitespace outside
  ``[...]`` (also inside ``\\Q..\\E``, as MirrorMaker did) is dropped: ``a , b`` is ``a|b``. Any
  whitespace is dropped, not only spaces, so a list may be written one entry per line in a
  config file. Whitespace inside ``[...]`` is kept, so ``[^ ]`` keeps its meaning. Topic names
  never contain whitespace, so nothing that could match a topic is lost.
* **Java syntax.** The text is translated to Python ``re`` syntax, compiled with ``re.ASCII``
  (Java's ``\\w``, ``\\d``, ``\\s``, ``\\b`` and ``(?i)`` are ASCII by default):

  - translated: ``\\Q...\\E`` (escaped), ``(?<name>...)`` → ``(?P<name>...)``, ``\\k<name>``
    → ``(?P=name)``, ``\\z`` → ``\\Z``, Java's ``\\Z`` (end, or before a final line terminator),
    ``\\h \\H \\v \\V \\R`` as Java defines them, ``\\e``, ``\\cX``, ``\\0ooo``, ``\\xhh``,
    ``\\x{h..h}``, ``\\uhhhh``, ``\\N{name}``, multi-digit backreferences, the ASCII POSIX
    classes ``\\p{Lower} Upper ASCII Alpha Digit Alnum Punct Graph Print Blank Cntrl XDigit
    Space`` (and ``\\P{..}``), inline flags ``(?i) (?m) (?s)`` anywhere (Java scopes them to the
    end of the enclosing group; Python 3.11 only accepts them at the start, so they become
    ``(?i:...)`` groups) and ``(?ims-ims:...)``; flags ``d u U c`` are accepted and ignored (they
    only matter for line terminators and non-ASCII text, which topic names never contain).
  - native in Python 3.11: possessive quantifiers, atomic groups ``(?>...)``, lookaround.
  - rejected with an error naming the construct: other ``\\p{...}`` properties
    (``\\p{javaLowerCase}``, ``\\p{L}``, ``\\p{IsLatin}`` ...), nested classes ``[a[b]]`` and
    intersections ``[a-z&&[^x]]``, ``\\G``, ``\\X``, ``\\b{g}``, the comments flag ``(?x)``,
    ``{`` that does not start a ``{n}``/``{n,}``/``{n,m}`` repetition (Java rejects it too),
    Python-only syntax Java would reject (``(?P...)``, ``(?#...)``, ``(?(1)...)``, ``{,n}``), and
    a backreference to a group that has not been opened yet (Java accepts it, never matching).
  - rejected by Python although Java accepts them (meaningless for topic names): quantifiers
    with nothing to repeat or on anchors (``{2}x``, ``^*``, ``(?i){2}``), stacked quantifiers
    (``a+{2}``) and variable-width look-behind (``(?<=a+)``).
  - Python quirks left alone: ``.``/``$`` know only ``\\n`` as a line terminator and ``\\B``
    never matches an empty string; topic names have neither line terminators nor zero length.
* **Internal topics.** Every topic whose name starts with ``__`` (Kafka's own, and kmirror's
  ``__kmirror...`` topics) is never mirrored, whatever the patterns say.

Errors are :class:`~kmirror.errors.BadInputError` with three lines: what is wrong and where
(positions count characters of the text exactly as the user typed it), the text, a caret.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import NoReturn, Protocol, runtime_checkable

from kmirror.errors import BadInputError

KMIRROR_INTERNAL_PREFIX = "__kmirror"
"""Prefix of the topics kmirror itself creates; such topics are never mirrored."""

KAFKA_INTERNAL_TOPICS = frozenset(
    {"__consumer_offsets", "__transaction_state", "__share_group_state", "__cluster_metadata"}
)
"""Kafka's own internal topics (all also covered by the ``__`` prefix rule)."""

_INTERNAL_PREFIX = "__"


@runtime_checkable
class TopicFilter(Protocol):
    """Decides, topic by topic, whether a source topic is mirrored."""

    def should_mirror(self, topic: str) -> bool:
        """True when ``topic`` is to be mirrored."""
        ...


def is_internal_topic(topic: str) -> bool:
    """True for topics that are never mirrored.

    Kafka's internal topics (``__consumer_offsets``, ``__transaction_state``, ...), kmirror's
    own topics (prefix :data:`KMIRROR_INTERNAL_PREFIX`) and, like MirrorMaker 2's default
    ``__.*`` exclusion, anything else starting with ``__``.
    """
    return (
        topic in KAFKA_INTERNAL_TOPICS
        or topic.startswith(KMIRROR_INTERNAL_PREFIX)
        or topic.startswith(_INTERNAL_PREFIX)
    )


@dataclass(frozen=True)
class RegexTopicFilter:
    """The default :class:`TopicFilter`: MirrorMaker's ``--include`` / ``--exclude`` rules.

    A topic is mirrored when ``include`` matches its whole name, ``exclude`` (if given) does not
    match its whole name, and it is not internal (:func:`is_internal_topic`). Both patterns are
    compiled at construction, so bad input fails early with a :class:`BadInputError`.
    """

    include: str
    """The ``--include`` text as the user wrote it, e.g. ``".*"`` or ``"orders,payments"``."""
    exclude: str | None = None
    """The ``--exclude`` text as the user wrote it, or None to exclude nothing."""
    _include_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _exclude_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Compile both patterns; raise :class:`BadInputError` if either is invalid."""
        start, end = _core_span(self.include)
        if start >= end:
            raise BadInputError(
                f"--include: empty pattern {self.include!r} selects no topics; "
                "use '.*' to mirror every topic"
            )
        object.__setattr__(self, "_include_re", compile_java_regex(self.include, flag="--include"))
        excluded = (
            None if self.exclude is None else compile_java_regex(self.exclude, flag="--exclude")
        )
        object.__setattr__(self, "_exclude_re", excluded)

    def should_mirror(self, topic: str) -> bool:
        """True when ``topic`` is selected by ``include``, not by ``exclude``, and not internal."""
        if is_internal_topic(topic) or self._include_re.fullmatch(topic) is None:
            return False
        return self._exclude_re is None or self._exclude_re.fullmatch(topic) is None


def compile_java_regex(text: str, *, flag: str) -> re.Pattern[str]:
    """Translate a Java regex (MirrorMaker's comma-means-or rule) and compile it for full matching.

    The returned pattern is anchored (``\\A(?:...)\\Z``), so ``match``, ``search`` and
    ``fullmatch`` all behave like Java's ``String.matches``. ``flag`` (e.g. ``"--include"``)
    names the option in error messages. Raises :class:`BadInputError` for text Java would
    reject or that kmirror cannot translate faithfully (see the module docstring).
    """
    start, end = _core_span(text)
    translator = _Translator(text, start, end)
    try:
        python_text, where = translator.translate()
    except _Problem as problem:
        raise _bad_input(flag, text, problem.what, problem.at) from None
    try:
        return re.compile(python_text, re.ASCII)
    except re.error as exc:
        at = None if exc.pos is None else where[min(exc.pos, len(where) - 1)]
        what = exc.msg
        if "look-behind" in what:
            what += " (Python cannot do Java's variable-width look-behind)"
            if at is None:  # Python gives no position; point at the first look-behind
                found = [i for i in (text.find("(?<="), text.find("(?<!")) if i >= 0]
                at = min(found, default=None)
        raise _bad_input(flag, text, what, at) from None


# --- error reporting -------------------------------------------------------------------------


class _Problem(Exception):
    """Internal: a translation problem at a position of the user's original text."""

    def __init__(self, what: str, at: int) -> None:
        super().__init__(what)
        self.what = what
        self.at = at


def _bad_input(flag: str, text: str, what: str, at: int | None) -> BadInputError:
    """The user-facing error: message with position, the text, a caret under the position."""
    shown = "".join(ch if ch.isprintable() else " " for ch in text)
    if at is None:
        return BadInputError(f'{flag}: invalid regular expression: {what}\n  "{shown}"')
    return BadInputError(
        f"{flag}: invalid regular expression: {what} at position {at}\n"
        f'  "{shown}"\n'
        f"{' ' * (at + 3)}^"
    )


def _core_span(text: str) -> tuple[int, int]:
    """Start and end of ``text`` without surrounding whitespace and quotes (MirrorMaker's trim)."""

    def strippable(ch: str) -> bool:
        return ch <= " " or ch.isspace() or ch in "\"'"

    start, end = 0, len(text)
    while start < end and strippable(text[start]):
        start += 1
    while end > start and strippable(text[end - 1]):
        end -= 1
    return start, end


# --- character sets --------------------------------------------------------------------------

_Ranges = tuple[tuple[int, int], ...]
_MAX_CODE_POINT = 0x10FFFF


def _ranges(*spans: tuple[int | str, int | str]) -> _Ranges:
    """Sorted, merged code-point ranges from (low, high) pairs given as ints or characters."""
    pairs = sorted(
        (lo if isinstance(lo, int) else ord(lo), hi if isinstance(hi, int) else ord(hi))
        for lo, hi in spans
    )
    merged: list[tuple[int, int]] = []
    for lo, hi in pairs:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _complement(ranges: _Ranges) -> _Ranges:
    """Every code point not in ``ranges``."""
    result: list[tuple[int, int]] = []
    next_lo = 0
    for lo, hi in ranges:
        if lo > next_lo:
            result.append((next_lo, lo - 1))
        next_lo = hi + 1
    if next_lo <= _MAX_CODE_POINT:
        result.append((next_lo, _MAX_CODE_POINT))
    return tuple(result)


def _case_closure(ranges: _Ranges) -> _Ranges:
    """``ranges`` plus the other ASCII case of every ASCII letter in it."""
    letters = [
        (ord(ch.swapcase()), ord(ch.swapcase()))
        for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        if any(lo <= ord(ch) <= hi for lo, hi in ranges)
    ]
    return _ranges(*ranges, *letters)


def _set_char(cp: int) -> str:
    """One code point, written so it is literal inside a Python ``[...]``."""
    ch = chr(cp)
    if ch.isascii() and ch.isalnum():
        return ch
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _set_body(ranges: _Ranges) -> str:
    """The inside of a Python ``[...]`` matching exactly ``ranges``."""
    return "".join(
        _set_char(lo) if lo == hi else f"{_set_char(lo)}-{_set_char(hi)}" for lo, hi in ranges
    )


_POSIX: dict[str, _Ranges] = {
    "Lower": _ranges(("a", "z")),
    "Upper": _ranges(("A", "Z")),
    "ASCII": _ranges((0x00, 0x7F)),
    "Alpha": _ranges(("a", "z"), ("A", "Z")),
    "Digit": _ranges(("0", "9")),
    "Alnum": _ranges(("a", "z"), ("A", "Z"), ("0", "9")),
    "Punct": _ranges(("!", "/"), (":", "@"), ("[", "`"), ("{", "~")),
    "Graph": _ranges(("!", "~")),
    "Print": _ranges((" ", "~")),
    "Blank": _ranges((" ", " "), ("\t", "\t")),
    "Cntrl": _ranges((0x00, 0x1F), (0x7F, 0x7F)),
    "XDigit": _ranges(("0", "9"), ("a", "f"), ("A", "F")),
    "Space": _ranges((" ", " "), ("\t", "\r")),
}
# Java's \h and \v (java.util.regex.Pattern); Python's \v is only \x0b and it has no \h.
_HORIZONTAL = _ranges(
    (" ", " "), ("\t", "\t"), (0xA0, 0xA0), (0x1680, 0x1680), (0x180E, 0x180E),
    (0x2000, 0x200A), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip
_VERTICAL = _ranges(("\n", "\r"), (0x85, 0x85), (0x2028, 0x2029))
_JAVA_LINE_END = "(?:\\r\\n|[\\n\\r\\x85\\u2028\\u2029])"
_JAVA_LINEBREAK = f"(?>\\r\\n|[{_set_body(_VERTICAL)}])"

_PYTHON_FLAGS = "ims"  # Java inline flags with a Python equivalent
_IGNORED_FLAGS = "duUc"  # UNIX_LINES, UNICODE_CASE, UNICODE_CHARACTER_CLASS, CANON_EQ
_HEX = "0123456789abcdefABCDEF"
_OCTAL = "01234567"
_DIGITS = "0123456789"


# --- the translator --------------------------------------------------------------------------


@dataclass
class _Frame:
    """One open group: where it started, whether ``(?i)`` is on, the ``(?flags)`` groups open."""

    open_at: int
    ignore_case: bool
    flag_groups: list[str] = field(default_factory=list)


class _Translator:
    """Java regex text → Python regex text, remembering each output character's source position."""

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text = text
        self.i = start
        self.end = end
        self.out: list[str] = []
        self.where: list[int] = []
        self.stack = [_Frame(start, ignore_case=False)]
        self.groups = 0

    def translate(self) -> tuple[str, list[int]]:
        """Return the anchored Python pattern and, per character, its position in the source."""
        self.emit("\\A(?:", self.i)
        while self.i < self.end:
            self.step()
        if len(self.stack) > 1:
            self.fail("missing ), unterminated subpattern", self.stack[-1].open_at)
        self.close_flag_groups(self.end)
        self.emit(")\\Z", self.end)
        self.where.append(self.end)  # Python may report the position just past the pattern
        return "".join(self.out), self.where

    def emit(self, python: str, at: int) -> None:
        self.out.append(python)
        self.where.extend([at] * len(python))

    def fail(self, what: str, at: int) -> NoReturn:
        raise _Problem(what, at)

    def peek(self, offset: int = 0) -> str:
        j = self.i + offset
        return self.text[j] if j < self.end else ""

    # normal (outside [...]) context

    def step(self) -> None:
        at, ch = self.i, self.text[self.i]
        if ch.isspace():
            self.i += 1
        elif ch == "\\":
            self.escape(in_class=False)
        elif ch == "[":
            self.char_class()
        elif ch == "(":
            self.open_group()
        elif ch == ")":
            if len(self.stack) == 1:
                self.fail("unbalanced parenthesis", at)
            self.close_flag_groups(at)
            self.stack.pop()
            self.emit(")", at)
            self.i += 1
        elif ch in "|,":  # MirrorMaker: a comma means "or"
            self.close_flag_groups(at)
            self.emit("|", at)
            for opener in self.stack[-1].flag_groups:
                self.emit(opener, at)
            self.i += 1
        elif ch == "{":
            self.repetition()
        else:
            self.emit(ch, at)
            self.i += 1

    def close_flag_groups(self, at: int) -> None:
        self.emit(")" * len(self.stack[-1].flag_groups), at)

    def repetition(self) -> None:
        at, j, digits = self.i, self.i + 1, []
        while j < self.end and (self.text[j].isspace() or self.text[j] in "0123456789,"):
            if not self.text[j].isspace():
                digits.append(self.text[j])
            j += 1
        body = "".join(digits)
        if j >= self.end or self.text[j] != "}" or not re.fullmatch(r"[0-9]+(,[0-9]*)?", body):
            self.fail(
                "'{' must start a repetition such as {2}, {2,} or {2,5} "
                "(write \\{ for a literal brace)",
                at,
            )
        self.emit("{" + body + "}", at)
        self.i = j + 1

    def open_group(self) -> None:
        at = self.i
        if self.peek(1) != "?":
            self.groups += 1
            self.emit("(", at)
            self.push(at)
            self.i += 1
            return
        kind = self.peek(2)
        if kind in (":", "=", "!", ">") or (kind == "<" and self.peek(3) in ("=", "!")):
            length = 4 if kind == "<" else 3
            self.emit(self.text[at : at + length], at)
            self.i += length
        elif kind == "<":
            close = self.text.find(">", at + 3, self.end)
            name = self.text[at + 3 : close] if close >= 0 else ""
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
                self.fail(
                    "a group name must be a letter followed by letters or digits: (?<name>...)",
                    at,
                )
            self.groups += 1
            self.emit(f"(?P<{name}>", at)
            self.i = close + 1
        elif kind in ("P", "#", "("):
            self.fail(
                f"'(?{kind}' is Python syntax, not Java"
                + (" (Java names groups with (?<name>...))" if kind == "P" else ""),
                at,
            )
        else:
            self.inline_flags(at)
            return
        self.push(at)

    def push(self, at: int, *, ignore_case: bool | None = None) -> None:
        inherited = self.stack[-1].ignore_case
        self.stack.append(_Frame(at, inherited if ignore_case is None else ignore_case))

    def inline_flags(self, at: int) -> None:
        j, negative = at + 2, False
        on: set[str] = set()
        off: set[str] = set()
        while j < self.end and self.text[j] in "imsx" + _IGNORED_FLAGS + "-":
            flag = self.text[j]
            if flag == "-":
                negative = True
            elif flag == "x":
                self.fail("the comments flag (?x) is not supported", j)
            else:
                (off if negative else on).add(flag)
            j += 1
        if j >= self.end or self.text[j] not in ":)":
            self.fail("unknown inline flag or group construct after '(?'", min(j, self.end))
        on_py = "".join(f for f in _PYTHON_FLAGS if f in on and f not in off)
        off_py = "".join(f for f in _PYTHON_FLAGS if f in off)
        opener = f"(?{on_py}{'-' + off_py if off_py else ''}:"
        ignore_case = "i" in on_py or ("i" not in off_py and self.stack[-1].ignore_case)
        if self.text[j] == ":":
            self.emit(opener, at)
            self.push(at, ignore_case=ignore_case)
        elif on_py or off_py:  # Java: flags hold to the end of the enclosing group
            self.emit(opener, at)
            self.stack[-1].flag_groups.append(opener)
            self.stack[-1].ignore_case = ignore_case
        self.i = j + 1

    # [...] context

    def char_class(self) -> None:
        at = self.i
        self.emit("[", at)
        self.i += 1
        if self.peek() == "^":
            self.emit("^", self.i)
            self.i += 1
        first, after_dash = True, False
        while True:
            if self.i >= self.end:
                self.fail("unterminated character set", at)
            j, ch = self.i, self.text[self.i]
            dash = False
            if ch == "]" and not first:
                self.emit("]", j)
                self.i += 1
                return
            if ch == "\\":
                self.escape(in_class=True)
            elif ch == "[":
                self.fail(
                    "nested character classes like [a[bc]] are not supported "
                    "(write \\[ for a literal bracket)",
                    j,
                )
            elif ch == "&" and self.peek(1) == "&":
                self.fail("character class intersection (&&) is not supported", j)
            elif ch in "]&|~" or (ch == "-" and after_dash):
                self.emit("\\" + ch, j)  # literal; avoids Python's set-operation warnings
                self.i += 1
            else:
                self.emit(ch, j)
                self.i += 1
                dash = ch == "-"
            first, after_dash = False, dash

    # escapes, both contexts

    def literal(self, ch: str, at: int) -> None:
        self.emit(re.escape(ch), at)

    def escape(self, *, in_class: bool) -> None:
        at = self.i
        if at + 1 >= self.end:
            self.fail("the pattern ends with a lone backslash", at)
        ch = self.text[at + 1]
        self.i = at + 2
        if ch == "Q":
            self.quoted(in_class=in_class)
        elif ch in "dDsSwWtnrfa":
            self.emit("\\" + ch, at)
        elif ch in "hHvVpP":
            if ch in "hH":
                ranges = _HORIZONTAL
            elif ch in "vV":
                ranges = _VERTICAL
            else:
                ranges = self.posix_class(at)
            negate = ch.isupper()
            if in_class and negate:
                # Java tests \P{Lower} under (?i) as "no case variant is lower case"
                closed = _case_closure(ranges) if self.stack[-1].ignore_case else ranges
                self.emit(_set_body(_complement(closed)), at)
            elif in_class:
                self.emit(_set_body(ranges), at)
            else:
                self.emit(f"[{'^' if negate else ''}{_set_body(ranges)}]", at)
        elif ch in "e0xucN":
            self.literal(self.char_escape(ch, at), at)
        elif ch in "123456789bBAzZRGXkE":
            if in_class:
                self.fail(f"\\{ch} is not allowed inside [...]", at)
            self.special_escape(ch, at)
        elif ch.isascii() and ch.isalpha():
            self.fail(f"unknown escape \\{ch}", at)
        else:
            self.literal(ch, at)  # Java: a backslash before a non-letter quotes it

    def quoted(self, *, in_class: bool) -> None:
        close = self.text.find("\\E", self.i, self.end)
        stop = self.end if close < 0 else close
        for j in range(self.i, stop):
            if in_class or not self.text[j].isspace():
                self.literal(self.text[j], j)
        self.i = stop if close < 0 else close + 2

    def posix_class(self, at: int) -> _Ranges:
        if self.peek() == "{":
            close = self.text.find("}", self.i, self.end)
            if close < 0:
                self.fail("unterminated \\p{...}", at)
            name, self.i = self.text[self.i + 1 : close], close + 1
        else:
            name = self.peek()
            self.i += 1
        if name not in _POSIX:
            supported = " ".join(_POSIX)
            self.fail(
                f"\\p{{{name}}} is not supported (supported: the ASCII POSIX classes {supported})",
                at,
            )
        return _POSIX[name]

    def hex_digits(self, count: int, at: int) -> int:
        digits = self.text[self.i : self.i + count]
        if len(digits) != count or any(d not in _HEX for d in digits):
            self.fail(f"expected {count} hexadecimal digits", at)
        self.i += count
        return int(digits, 16)

    def char_escape(self, kind: str, at: int) -> str:
        """The character written by \\e, \\0ooo, \\xhh, \\x{h..h}, \\uhhhh, \\cX or \\N{name}."""
        if kind == "e":
            return "\x1b"
        if kind == "c":
            if self.i >= self.end:
                self.fail("\\c must be followed by a character", at)
            self.i += 1
            return chr(ord(self.text[self.i - 1]) ^ 64)
        if kind == "0":
            digits = ""
            while self.peek() and self.peek() in _OCTAL and len(digits) < 3:
                digits += self.peek()
                self.i += 1
            if len(digits) == 3 and digits[0] > "3":  # Java: \0mnn only for m <= 3
                digits, self.i = digits[:2], self.i - 1
            if not digits:
                self.fail("\\0 must be followed by octal digits", at)
            return chr(int(digits, 8))
        if kind == "x" and self.peek() == "{":
            close = self.text.find("}", self.i, self.end)
            digits = self.text[self.i + 1 : close] if close >= 0 else ""
            if not digits or any(d not in _HEX for d in digits) or int(digits, 16) > 0x10FFFF:
                self.fail("\\x{...} must hold a hexadecimal code point", at)
            self.i = close + 1
            return chr(int(digits, 16))
        if kind == "x":
            return chr(self.hex_digits(2, at))
        if kind == "u":
            cp = self.hex_digits(4, at)
            low_next = self.text[self.i : self.i + 2] == "\\u"
            if 0xD800 <= cp <= 0xDBFF and low_next:  # a surrogate pair written as two \u
                save = self.i
                self.i += 2
                low = self.hex_digits(4, at)
                if 0xDC00 <= low <= 0xDFFF:
                    return chr(0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00))
                self.i = save
            return chr(cp)
        # \N{name}
        close = self.text.find("}", self.i, self.end) if self.peek() == "{" else -1
        try:
            char = unicodedata.lookup(self.text[self.i + 1 : close]) if close >= 0 else ""
        except KeyError:
            char = ""
        if len(char) != 1:
            self.fail("\\N{...} must name a Unicode character", at)
        self.i = close + 1
        return char

    def special_escape(self, ch: str, at: int) -> None:
        """Escapes only valid outside [...]: anchors, backreferences, \\R."""
        if ch in "123456789":
            number = int(ch)
            while (
                self.peek()
                and self.peek() in _DIGITS
                and number * 10 + int(self.peek()) <= self.groups
            ):
                number = number * 10 + int(self.peek())
                self.i += 1
            if number > self.groups:
                self.fail(f"backreference \\{number} comes before group {number} exists", at)
            self.emit(f"(?:\\{number})", at)
        elif ch in "bB":
            if ch == "b" and self.text.startswith("{g}", self.i, self.end):
                self.fail("\\b{g} (grapheme boundary) is not supported", at)
            self.emit("\\" + ch, at)
        elif ch == "A":
            self.emit("\\A", at)
        elif ch == "z":
            self.emit("\\Z", at)
        elif ch == "Z":  # Java: end of input, or before a final line terminator
            self.emit(f"(?={_JAVA_LINE_END}?\\Z)", at)
        elif ch == "R":
            self.emit(_JAVA_LINEBREAK, at)
        elif ch == "k":
            match = re.compile(r"<([A-Za-z][A-Za-z0-9]*)>").match(self.text, self.i, self.end)
            if match is None:
                self.fail("\\k must be followed by <name>", at)
            self.emit(f"(?P={match.group(1)})", at)
            self.i = match.end()
        elif ch == "E":
            self.fail("\\E without a preceding \\Q", at)
        else:  # G, X
            self.fail(f"\\{ch} is not supported", at)
