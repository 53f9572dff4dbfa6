"""Named checkpoints in the chain where tests can make a run block or crash.

Inert unless the test-only environment variable `SOR_EXPORT_TEST_BLOCK_AT` names the checkpoint
(a real Celery worker started by a test inherits it): the run then writes the marker file
`<EXPORT_ROOT>/.test-blocked-<checkpoint>` and sleeps `SOR_EXPORT_TEST_BLOCK_SECONDS` (default
120) so the test can SIGKILL the worker at a known point. In-process tests monkeypatch
`checkpoint` to raise instead.

Checkpoints: "build" (after the formats rendered, inside the snapshot), "publish-before-rename"
(staged files complete and fsynced, nothing renamed yet), "publish-before-latest" (the date
directory is in place, `latest` not yet switched).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings

ENV_BLOCK_AT = "SOR_EXPORT_TEST_BLOCK_AT"
ENV_BLOCK_SECONDS = "SOR_EXPORT_TEST_BLOCK_SECONDS"


def marker_path(name: str) -> Path:
    return Path(settings.EXPORT_ROOT) / f".test-blocked-{name}"


def checkpoint(name: str) -> None:
    if os.environ.get(ENV_BLOCK_AT) != name:
        return
    marker = marker_path(name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    time.sleep(float(os.environ.get(ENV_BLOCK_SECONDS, "120")))
