"""Logging filters of the project."""

import logging


class OneLineRefusals(logging.Filter):
    """A 403 is an answer, not a fault: log its one line without the PermissionDenied traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
