"""Tests for kmirror.topics.filter: MirrorMaker-compatible Java-regex topic selection.

Expected results for valid patterns were checked against Java 17's java.util.regex (with
classic MirrorMaker's text clean-up) except where a case is marked as a documented difference.
"""

from __future__ import annotations

import re

import pytest

from kmirror.errors import BadInputError
from kmirror.topics.filter import (
    KMIRROR_INTERNAL_PREFIX,
    RegexTopicFilter,
    TopicFilter,
    compile_java_regex,
    is_internal_topic,
)

# (include, exclude, topic, mirrored?)
SELECTION: list[tuple[str, str | None, str, bool]] = [
    # whole-name matching, like Java's String.matches
    ("a", None, "a", True),
    ("a", None, "ab", False),
    ("a", None, "ba", False),
    ("orders", None, "orders-eu", False),
    ("orders.*", None, "orders-eu", True),
    (".*", None, "anything.at-all_1", True),
    (r"\w+", None, "a_1", True),
    (r"\d+", None, "12a", False),
    ("^a$", None, "a", True),
    # comma means "or" (MirrorMaker's whitelist.replace(',', '|'))
    ("a,b", None, "a", True),
    ("a,b", None, "b", True),
    ("a,b", None, "ab", False),
    ("a,b", None, "a,b", False),
    (r"x\.(eu,us)", None, "x.us", True),  # a comma inside a group still splits
    (r"x\.(eu,us)", None, "x.eu", True),
    ("orders,", None, "orders", True),  # a trailing comma adds only the (unmatchable) empty name
    # whitespace and quotes (MirrorMaker dropped spaces and surrounding quotes)
    ("a, b", None, "b", True),
    ("  a ,\tb  ", None, "b", True),  # difference: MM dropped spaces only, kept the tab
    ("a,\nb", None, "b", True),  # difference (one entry per line in a config file)
    ("'orders'", None, "orders", True),
    ('"a,b"', None, "b", True),
    ("ord ers", None, "orders", True),  # MirrorMaker: "ord ers" meant "orders"
    ("[^ ]+", None, "abc", True),  # whitespace inside [...] is kept (difference: MM errored)
    # \Q...\E quoting
    (r"\Qorders.v1\E", None, "orders.v1", True),
    (r"\Qorders.v1\E", None, "ordersXv1", False),
    (r"\Qorders.v1", None, "orders.v1", True),  # unterminated \Q quotes to the end, as in Java
    (r"\Qa.b\E,c", None, "c", True),
    (r"\Qa,b\E", None, "a", False),  # a quoted comma is a comma, not "or"
    (r"[\Q]-\E]+", None, "-]", True),
    (r"\Q[\E.*", None, "[x", True),
    # quantifier commas are not split (difference: MirrorMaker errored on {m,n})
    ("a{1,3}", None, "aaa", True),
    ("a{1,3}", None, "aaaa", False),
    ("a{2,}", None, "aaaaa", True),
    ("a{ 1 , 2 }", None, "aa", True),
    ("a{2}", None, "aa", True),
    ("a{1,3},b", None, "b", True),
    # commas inside [...] are literal
    ("[a,b]", None, "a", True),
    ("[a,b]", None, "b", True),
    ("[a,b]", None, "c", False),
    (r"[\w,.]+", None, "x.y", True),
    # excludes
    (".*", "tmp.*", "orders", True),
    (".*", "tmp.*", "tmp-1", False),
    (".*", "tmp", "tmp-1", True),  # exclude is a whole-name match too
    (".*", "a,b", "b", False),
    (".*", "a,b", "c", True),
    ("orders.*", r".*\.dlq", "orders.dlq", False),
    ("orders.*", "", "orders", True),  # an empty exclude excludes nothing
    # internal topics are never mirrored, whatever the patterns say
    (".*", None, "__consumer_offsets", False),
    ("__consumer_offsets", None, "__consumer_offsets", False),
    ("__transaction_state,orders", None, "__transaction_state", False),
    (".*", None, f"{KMIRROR_INTERNAL_PREFIX}.offsets", False),
    (".*", None, "__anything", False),
    (".*", None, "_single_underscore", True),
    # named groups and backreferences
    ("(?<env>dev|prod)-orders", None, "prod-orders", True),
    (r"(?<n>ab)\k<n>", None, "abab", True),
    (r"(?<n>ab)\k<n>", None, "abac", False),
    (r"(a)\1", None, "aa", True),
    (r"(a)\10", None, "aa0", True),  # one group: \10 is \1 then "0", as in Java
    # POSIX classes
    (r"\p{Digit}+", None, "123", True),
    (r"\p{Digit}+", None, "12a", False),
    (r"\P{Digit}+", None, "ab", True),
    (r"\p{Alpha}\p{Alnum}*", None, "a1", True),
    (r"\p{Alpha}\p{Alnum}*", None, "1a", False),
    (r"\p{Upper}\p{Lower}+", None, "Orders", True),
    (r"\p{Punct}", None, ".", True),
    (r"\p{XDigit}+", None, "0fA", True),
    (r"[\p{Lower}_]+", None, "a_b", True),
    (r"[\P{Digit}]+", None, "a1", False),
    (r"(?i)[\P{Lower}]", None, "A", False),  # Java: no case variant of A may be lower case
    (r"(?i)\p{Upper}", None, "a", True),
    # anchors and Java-only escapes
    (r"a\z", None, "a", True),
    (r"a\Z", None, "a", True),
    (r"\Aorders\z", None, "orders", True),
    (r"\bab\b", None, "ab", True),
    (r"\x41\u0042\0103\x{44}", None, "ABCD", True),
    (r"\N{LATIN SMALL LETTER A}", None, "a", True),  # difference: MM's space removal broke it
    (r"a\,b", None, "a,b", True),  # difference: literal comma (MM: literal |)
    (r"a\,b", None, "b", False),
    (r"a\-b", None, "a-b", True),
    # inline flags, anywhere: Java scopes them to the end of the enclosing group
    ("(?i)orders", None, "ORDERS", True),
    ("orders,(?i)payments", None, "PAYMENTS", True),
    ("(?i)orders,payments", None, "PAYMENTS", True),
    ("x,(?i)y,z", None, "Z", True),
    ("x,(?i)y,z", None, "X", False),
    ("a(?i)b", None, "aB", True),
    ("a(?i)b", None, "AB", False),
    ("((?i)a)b", None, "AB", False),
    ("(?i:a)b", None, "Ab", True),
    ("(?i)a(?-i)b", None, "AB", False),
    ("(?iu)orders", None, "Orders", True),  # u, U, d, c are accepted and ignored
    # possessive quantifiers, atomic groups, lookaround (native in Python 3.11)
    ("a++", None, "aa", True),
    ("a++a", None, "aaa", False),
    ("(?>a|ab)", None, "ab", False),
    ("(?>ab|a)", None, "ab", True),
    ("(?!tmp).*", None, "tmp1", False),
    ("(?!tmp).*", None, "orders", True),
    ("orders(?<!-dlq)", None, "orders", True),
    # character-class edge cases
    ("[]a]", None, "]", True),
    ("[a-]", None, "-", True),
    ("[a|b]", None, "|", True),
    ("[!--]+", None, ",-", True),
]


@pytest.mark.parametrize(("include", "exclude", "topic", "expected"), SELECTION)
def test_should_mirror(include: str, exclude: str | None, topic: str, expected: bool) -> None:
    assert RegexTopicFilter(include, exclude).should_mirror(topic) is expected


# (flag text, start of the complaint, position in the original text)
INVALID: list[tuple[str, str, int]] = [
    ("abc(d", "missing ), unterminated subpattern", 3),
    ("a)", "unbalanced parenthesis", 1),
    ("x,[ab", "unterminated character set", 2),
    ("*a", "nothing to repeat", 0),
    ("a,*b", "nothing to repeat", 2),
    ("a{3,1}", "min repeat greater than max repeat", 1),
    ("[z-a]", "bad character range z-a", 1),
    (r"\Qa.b\E[z-a]", "bad character range z-a", 8),  # position in the text as typed
    ("  'x(' ", "missing ), unterminated subpattern", 4),  # after stripped blanks and quotes
    (r"\y", r"unknown escape \y", 0),
    (r"a\E", r"\E without a preceding \Q", 1),
    ("a\\", "the pattern ends with a lone backslash", 1),
    ("{abc}", "'{' must start a repetition", 0),
    ("x{,3}", "'{' must start a repetition", 1),
    (r"\p{javaLowerCase}", r"\p{javaLowerCase} is not supported", 0),
    (r"a\p{L}", r"\p{L} is not supported", 1),
    (r"\pL", r"\p{L} is not supported", 0),
    ("[a[b]]", "nested character classes", 2),
    ("[a-z&&[^b]]", "character class intersection (&&)", 4),
    (r"\Gx", r"\G is not supported", 0),
    (r"\X", r"\X is not supported", 0),
    (r"\b{g}", r"\b{g} (grapheme boundary) is not supported", 0),
    ("(?x)a b", "the comments flag (?x) is not supported", 2),
    ("(?q)a", "unknown inline flag or group construct", 2),
    ("(?P<n>x)", "'(?P' is Python syntax, not Java", 0),
    ("(?#note)x", "'(?#' is Python syntax, not Java", 0),
    ("(?<1a>x)", "a group name must be a letter", 0),
    (r"(a)\2", r"backreference \2 comes before group 2 exists", 3),
    (r"[\b]", r"\b is not allowed inside [...]", 1),
    (r"\0", r"\0 must be followed by octal digits", 0),
    (r"\xZZ", "expected 2 hexadecimal digits", 0),
    (r"\N{NO SUCH CHARACTER}", r"\N{...} must name a Unicode character", 0),
    ("(?<=a+)b", "look-behind requires fixed-width pattern", 0),
]


@pytest.mark.parametrize(("text", "complaint", "position"), INVALID)
def test_invalid_regex_is_reported_with_position(text: str, complaint: str, position: int) -> None:
    with pytest.raises(BadInputError) as caught:
        compile_java_regex(text, flag="--include")
    first, shown, caret = str(caught.value).split("\n")
    assert first.startswith(f"--include: invalid regular expression: {complaint}")
    assert first.endswith(f" at position {position}")
    assert shown == f'  "{text}"'.replace("\t", " ")
    assert caret == " " * (position + 3) + "^"
    assert caught.value.exit_code == 2


def test_error_message_layout() -> None:
    with pytest.raises(BadInputError) as caught:
        RegexTopicFilter("abc(d")
    assert str(caught.value) == (
        "--include: invalid regular expression: missing ), unterminated subpattern at position 3\n"
        '  "abc(d"\n'
        "      ^"
    )


def test_bad_exclude_names_its_flag() -> None:
    with pytest.raises(BadInputError, match=r"^--exclude: invalid regular expression"):
        RegexTopicFilter(".*", "tmp[")


@pytest.mark.parametrize("include", ["", "   ", "''", '" "'])
def test_empty_include_is_refused(include: str) -> None:
    with pytest.raises(BadInputError, match="selects no topics"):
        RegexTopicFilter(include)


@pytest.mark.parametrize(
    ("topic", "internal"),
    [
        ("__consumer_offsets", True),
        ("__transaction_state", True),
        ("__share_group_state", True),
        ("__cluster_metadata", True),
        (f"{KMIRROR_INTERNAL_PREFIX}-checkpoints", True),
        ("__anything", True),
        ("_schemas", False),
        ("orders", False),
        ("kmirror.status", False),
        ("orders__v2", False),
    ],
)
def test_is_internal_topic(topic: str, internal: bool) -> None:
    assert is_internal_topic(topic) is internal


@pytest.mark.parametrize(
    ("text", "topic", "expected"),
    [("a,b", "ab", False), ("a", "ba", False), ("a", "ab", False), ("a.*", "ab", True)],
)
def test_compiled_pattern_is_anchored(text: str, topic: str, expected: bool) -> None:
    pattern = compile_java_regex(text, flag="--include")
    assert (pattern.match(topic) is not None) is expected
    assert (pattern.search(topic) is not None) is expected
    assert (pattern.fullmatch(topic) is not None) is expected


def test_named_group_is_translated_for_python() -> None:
    match = compile_java_regex("(?<env>dev|prod)-.*", flag="--include").match("prod-orders")
    assert match is not None
    assert match.group("env") == "prod"


def test_patterns_compile_ascii_like_java() -> None:
    pattern = compile_java_regex(r"\w+", flag="--include")
    assert pattern.flags & re.ASCII
    assert pattern.fullmatch("é") is None


def test_filter_is_a_frozen_topic_filter() -> None:
    topic_filter = RegexTopicFilter("a,b", "b")
    assert isinstance(topic_filter, TopicFilter)
    assert topic_filter == RegexTopicFilter("a,b", "b")
    assert repr(topic_filter) == "RegexTopicFilter(include='a,b', exclude='b')"
    with pytest.raises(AttributeError):
        topic_filter.include = "c"  # type: ignore[misc]
