"""CEL literals: their values, string escapes decoded as the CEL spec defines them."""

from __future__ import annotations

import lark

from ticketrouter.cel.errors import ExpressionError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def string_value(token: lark.Token) -> str:
    text = str(token)
    # The common literal, "x" or 'x' without escapes, is its text between the quotes;
    # cel-python decodes any other (escapes, raw and triple-quoted strings).
    quote = text[:1]
    if quote in ("'", '"') and not text.startswith(quote * 3) and "\\" not in text:
        return text[1:-1]
    return decode_string_literal(text)


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "?": "?",
    '"': '"',
    "'": "'",
    "`": "`",
}
_HEX_ESCAPES = {"x": 2, "X": 2, "u": 4, "U": 8}


def decode_string_literal(text: str) -> str:
    """A CEL string literal's value, as the CEL spec defines it: raw (r'...') or
    not, single or triple quoted (a triple-quoted string keeps its newlines), and
    the escapes \\a \\b \\f \\n \\r \\t \\v \\\\ \\? \\" \\' \\`, \\xHH, \\XHH, \\uHHHH,
    \\UHHHHHHHH and three octal digits. Anything else, and escapes of surrogates or
    of code points beyond U+10FFFF, is an ExpressionError naming the escape."""
    raw = text[:1] in ("r", "R")
    body = text[1:] if raw else text
    quotes = 3 if body[:3] in ("'''", '"""') else 1
    body = body[quotes:-quotes]
    if raw:
        return body
    out: list[str] = []
    at = 0
    while at < len(body):
        char = body[at]
        if char != "\\":
            out.append(char)
            at += 1
            continue
        escape = body[at + 1 : at + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            at += 2
        elif escape in _HEX_ESCAPES:
            digits = body[at + 2 : at + 2 + _HEX_ESCAPES[escape]]
            if len(digits) != _HEX_ESCAPES[escape] or not _is_hex(digits):
                raise ExpressionError(f"\\{escape}{digits}: not a complete hex escape")
            out.append(_code_point(int(digits, 16), f"\\{escape}{digits}"))
            at += 2 + len(digits)
        elif escape[:1] in "0123" and escape:
            digits = body[at + 1 : at + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits):
                raise ExpressionError(f"\\{digits}: an octal escape is three digits 0-7")
            out.append(_code_point(int(digits, 8), f"\\{digits}"))
            at += 4
        else:
            raise ExpressionError(f"\\{escape}: not an escape CEL knows")
    return "".join(out)


def _is_hex(digits: str) -> bool:
    return all(d in "0123456789abcdefABCDEF" for d in digits)


def _code_point(value: int, escape: str) -> str:
    if value > 0x10FFFF:
        raise ExpressionError(f"{escape}: beyond the last Unicode code point U+10FFFF")
    if 0xD800 <= value <= 0xDFFF:
        raise ExpressionError(f"{escape}: a surrogate, not a character")
    return chr(value)


def literal_value(token: lark.Token) -> object:
    text = str(token)
    if token.type == "INT_LIT":
        value = int(text, 16) if "x" in text.lower() else int(text, 10)
        if not INT64_MIN <= value <= INT64_MAX:
            raise ExpressionError(f"integer literal {text} is out of the 64-bit range")
        return value
    if token.type == "FLOAT_LIT":
        return float(text)
    if token.type in ("STRING_LIT", "MLSTRING_LIT"):
        return string_value(token)
    if token.type == "BOOL_LIT":
        return text == "true"
    if token.type == "NULL_LIT":
        return None
    kind = {"UINT_LIT": "unsigned integers", "BYTES_LIT": "bytes"}.get(token.type, token.type)
    raise ExpressionError(f"{kind} are not supported in routing policies")
