"""A strict logfmt reader, written apart from acs_exporter.logfmt (the writer) so that the tests
check the writer against the format, not against itself. Its rules are go-logfmt's decoder's,
which Loki's `| logfmt` uses, made stricter: every key has `=`, pairs are separated by exactly
one space, a key appears once, a bare value holds no `"` or `=`, and a quoted value has no raw
control character and only JSON escapes."""

from __future__ import annotations

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class LogfmtSyntaxError(ValueError):
    pass


def _fail(line: str, at: int, what: str) -> LogfmtSyntaxError:
    return LogfmtSyntaxError(f"{what} at column {at}: {line!r}")


def parse_line(line: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    i = 0
    while i < len(line):
        key, i = _key(line, i)
        if key in pairs:
            raise _fail(line, i, f"duplicate key {key!r}")
        if i < len(line) and line[i] == '"':
            pairs[key], i = _quoted(line, i + 1)
        else:
            pairs[key], i = _bare(line, i)
        if i < len(line):
            if line[i] != " " or i + 1 >= len(line) or line[i + 1] == " ":
                raise _fail(line, i, "expected one space between pairs")
            i += 1
    if not pairs:
        raise _fail(line, 0, "empty line")
    return pairs


def _key(line: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(line) and line[i] > " " and line[i] not in '="':
        i += 1
    if i == start:
        raise _fail(line, i, "expected a key")
    if i >= len(line) or line[i] != "=":
        raise _fail(line, i, "expected = after the key")
    return line[start:i], i + 1


def _bare(line: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(line) and line[i] != " ":
        if line[i] < " " or line[i] in '="':
            raise _fail(line, i, f"{line[i]!r} in a bare value")
        i += 1
    return line[start:i], i


def _quoted(line: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    while True:
        if i >= len(line):
            raise _fail(line, i, "unterminated quoted value")
        char = line[i]
        if char == '"':
            return "".join(out), i + 1
        if char < " ":
            raise _fail(line, i, "raw control character in a quoted value")
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = line[i + 1 : i + 2]
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            i += 2
        elif escape == "u":
            text, i = _unicode(line, i)
            out.append(text)
        else:
            raise _fail(line, i, f"unknown escape \\{escape}")


def _unicode(line: str, i: int) -> tuple[str, int]:
    digits = line[i + 2 : i + 6]
    if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise _fail(line, i, "bad \\u escape")
    code = int(digits, 16)
    if 0xD800 <= code < 0xDC00 and line[i + 6 : i + 8] == "\\u":  # a surrogate pair
        low = int(line[i + 8 : i + 12], 16)
        return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), i + 12
    return chr(code), i + 6
