"""A minimal streaming XML text writer that lays the file out exactly as SDS does.

lxml's serialisers choose their own namespace declarations, empty-element form and line ends;
SDS's files have a BOM, a fixed prefix order, one tab per depth and CRLF (v2) or LF (v1) line
ends, and consumers compare qualified names as strings. So the layout is written by hand here:
the caller passes already-qualified names ("sor1:SorIdentifier") and the writer only escapes
text, indents and buffers. Memory stays flat: the buffer is flushed every few thousand lines."""

from __future__ import annotations

_FLUSH_EVERY = 8192


def escape_text(value: str) -> str:
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#xD;")
    return value


def escape_attr(value: str) -> str:
    return escape_text(value).replace('"', "&quot;").replace("\n", "&#xA;").replace("\t", "&#x9;")


class XmlTextWriter:
    """Writes lines `<indent><tag>…</tag><newline>` to a binary file object."""

    def __init__(self, fh, *, newline: str, declaration: str, bom: bool = True, final_newline: bool = True):
        self.fh = fh
        self.nl = newline
        self.final_newline = final_newline
        self.depth = 0
        self.buf: list[str] = []
        self._indents = ["\t" * i for i in range(64)]
        if bom:
            fh.write(b"\xef\xbb\xbf")
        self.buf.append(declaration + newline)

    def _indent(self) -> str:
        d = self.depth
        return self._indents[d] if d < 64 else "\t" * d

    def raw_start(self, text: str) -> None:
        """A start tag given verbatim (the root with its namespace declarations)."""
        self.buf.append(self._indent() + text + self.nl)
        self.depth += 1

    def start(self, tag: str) -> None:
        self.buf.append(f"{self._indent()}<{tag}>{self.nl}")
        self.depth += 1

    def end(self, tag: str) -> None:
        self.depth -= 1
        self.buf.append(f"{self._indent()}</{tag}>{self.nl}")
        if len(self.buf) > _FLUSH_EVERY:
            self.flush()

    def leaf(self, tag: str, text: str, attrs: str = "") -> None:
        self.buf.append(f"{self._indent()}<{tag}{attrs}>{escape_text(text)}</{tag}>{self.nl}")

    def empty(self, tag: str) -> None:
        self.buf.append(f"{self._indent()}<{tag} />{self.nl}")

    def flush(self) -> None:
        if self.buf:
            self.fh.write("".join(self.buf).encode("utf-8"))
            self.buf.clear()

    def close_root(self, tag: str) -> None:
        self.depth -= 1
        self.buf.append(f"{self._indent()}</{tag}>" + (self.nl if self.final_newline else ""))
        self.flush()
