"""Error pages of the staff site in its own look: a refusal says what the user's role may do."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

# The action a refused URL asks for, by the end of its URL name, in the words of "Du har ikke ret
# til at …". Model-specific words come from the model's verbose name.
ACTION_WORDS = {
    "add": _("oprette %(things)s"),
    "change": _("ændre %(thing)s"),
    "close": _("lukke %(thing)s"),
    "reopen": _("genåbne %(thing)s"),
    "retire": _("udfase %(thing)s"),
    "import": _("importere rettelser fra regneark"),
    "run_now": _("starte en publiceringskørsel"),
    "release": _("frigive en tilbageholdt publicering"),
    "reject": _("afvise en tilbageholdt publicering"),
}
ACTION_BY_VIEW = {
    "sor_import:upload": _("importere SOR-filer"),
    "sor_import:confirm": _("bekræfte en import"),
}


def refused_action(request, thing=None) -> str:
    """What the refused request tried to do ("lukke enheden …"), or "" when it cannot be told."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    if match.view_name in ACTION_BY_VIEW:
        return str(ACTION_BY_VIEW[match.view_name])
    name = match.url_name or ""
    for suffix, words in ACTION_WORDS.items():
        if not name.endswith(f"_{suffix}"):
            continue
        model = _model_of(name[: -len(suffix) - 1])
        if thing is None and model is not None:
            thing = model._meta.verbose_name
        things = model._meta.verbose_name_plural if model is not None else ""
        if suffix == "change" and request.method != "POST":
            return ""
        return str(words) % {"thing": thing or "", "things": things}
    return ""


def _model_of(prefix: str):
    from django.apps import apps

    app_label, _sep, model_name = prefix.partition("_")
    try:
        return apps.get_model(app_label, model_name)
    except (LookupError, ValueError):
        return None


def permission_denied(request, exception=None):
    from registry.roles import role_descriptions

    user = getattr(request, "user", None)
    context = {
        **(admin.site.each_context(request) if user is not None and user.is_authenticated else {}),
        "title": "",
        "action": refused_action(request),
        "reason": str(exception) if exception is not None and str(exception) else "",
        "roles": role_descriptions(user) if user is not None and user.is_authenticated else [],
    }
    response = TemplateResponse(request, "admin/sor/403.html", context, status=403)
    return response.render()
