r"""logfmt lines, as Go's go-logfmt writes them and Loki's `| logfmt` parser reads them.

`ts=2026-11-25T12:00:00.123Z level=info logger=acs_exporter.pipeline msg="poll failed" source=la`

No library is used: the maintained Python ones (logfmter and its kin) leave backslashes, tabs,
carriage returns and a `"` in an otherwise plain value unescaped, which a strict parser (Loki's)
reads wrongly or rejects. The rules here are go-logfmt's:
- a key is any run of characters above space other than `=` and `"` (others become `_`);
- a value is written bare unless it is empty or holds a space, a control character, `=` or `"`;
  then it is quoted, with `\\`, `\"`, `\n`, `\r`, `\t` and other control characters as `\u00XX`
  (JSON string escapes, which go-logfmt's decoder undoes);
- None is `null`, booleans `true`/`false`, lists and mappings compact JSON (quoted, as above).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

# What forces quoting (go-logfmt's needsQuotedValueRune): space or below, `=`, `"`, and DEL.
_NEEDS_QUOTES = re.compile(r'[\x00-\x20="\x7f]')
_BAD_KEY_CHAR = re.compile(r'[\x00-\x20="\x7f]')


def encode_key(key: str) -> str:
    return _BAD_KEY_CHAR.sub("_", key) or "_"


def encode_value(value: object) -> str:
    text = _as_text(value)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    # json.dumps escapes `\`, `"` and every control character; ensure_ascii=False keeps UTF-8.
    return json.dumps(text, ensure_ascii=False)


def _as_text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def encode(pairs: Iterable[tuple[str, object]]) -> str:
    """One logfmt line (without the newline) of `pairs`, in order."""
    return " ".join(f"{encode_key(key)}={encode_value(value)}" for key, value in pairs)
