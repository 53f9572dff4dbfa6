"""Registry of export formats. Each format is a class with an `identifier` ("v2", "v1", "csv"),
the file names it produces, and `render(snapshot_date, out_dir, progress=None) -> dict`, which
writes its file(s) into `out_dir` (a temporary directory owned by the caller) and returns
{"files": {name: path}, "counts": {...}}. Publishing (atomic rename, checksums) is the caller's job.
"""

from __future__ import annotations

_FORMATS: dict[str, type] = {}


def register(cls):
    _FORMATS[cls.identifier] = cls
    return cls


def get_format(identifier: str):
    _load_builtin()
    try:
        return _FORMATS[identifier]()
    except KeyError:
        raise KeyError(f"Unknown export format {identifier!r}; known: {', '.join(sorted(_FORMATS))}") from None


def identifiers() -> list[str]:
    _load_builtin()
    return sorted(_FORMATS)


def _load_builtin():
    # Importing the modules registers their formats.
    import importlib

    for module in ("exports.xml.formats", "exports.csv_format", "exports.complete"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
