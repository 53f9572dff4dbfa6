"""Error pages of the staff site in its own look: a refusal says what the user's role may do."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse


def permission_denied(request, exception=None):
    from registry.roles import role_descriptions

    user = getattr(request, "user", None)
    context = {
        **(admin.site.each_context(request) if user is not None and user.is_authenticated else {}),
        "title": "",
        "reason": str(exception) if exception is not None and str(exception) else "",
        "roles": role_descriptions(user) if user is not None and user.is_authenticated else [],
    }
    response = TemplateResponse(request, "admin/sor/403.html", context, status=403)
    return response.render()
