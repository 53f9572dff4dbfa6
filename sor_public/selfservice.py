"""The self-service pages (no staff login), mounted at /selvbetjening/ (README "Self-service").

1. `start`: find the unit by SOR-ID, ydernummer or location number together with the CVR.
2. `unit`: the registered (published) values, and the proposal form old beside new; the link
   goes to a registered address chosen from a list (the SOR-responsible person's masked), or the
   request becomes a case marked "identitet ikke bekræftet".
3. `confirm`: the one-time link; a GET shows it, only the button (POST) uses it.
4. `followup` / `followup_correct`: the SOR-responsible person's half-yearly link.

Every page is rate limited per client address over all processes (`sor_public.throttle`). The
services (`registry.selfservice`) do the work; these views only read the form and show results.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from registry import identifiers as ids
from registry.errors import DomainError, ValidationFailed
from registry.models import Unit
from registry.selfservice import followup, services

from .throttle import throttled, too_many

SESSION_KEY = "sor_selfservice"
FORM_FIELDS = (*services.PROPOSABLE, *services.RESPONSIBLE_FIELDS)


def verified_cvr(request) -> str | None:
    """The CVR a pluggable login (MitID Erhverv via an OIDC broker) vouches for, if configured."""
    if not settings.SOR_SELFSERVICE_LOGIN:
        return None
    return import_string(settings.SOR_SELFSERVICE_LOGIN)(request)


def _errors(exc: ValidationFailed) -> dict:
    """Field → messages; the messages about no one field under "all" (templates cannot read "__all__")."""
    out = {**exc.warnings, **exc.errors}
    if "__all__" in out:
        out["all"] = out.pop("__all__")
    return out


@throttled("selfservice")
@require_http_methods(["GET", "POST"])
def start(request):
    context = {"identifier": "", "cvr": "", "errors": {}, "units": []}
    if request.method == "POST":
        identifier, cvr = request.POST.get("identifier", ""), request.POST.get("cvr", "")
        context.update(identifier=identifier, cvr=cvr)
        try:
            units = services.lookup(identifier, cvr)
        except ValidationFailed as exc:
            context["errors"] = _errors(exc)
        except DomainError as exc:
            context["errors"] = {"all": [str(exc)]}
        else:
            # The CVR as SOR holds it ("DK 2237 0170" is 22370170): the next steps compare it again.
            request.session[SESSION_KEY] = {"cvr": services.read_cvr(cvr), "units": [str(u.pk) for u in units]}
            if len(units) == 1:
                return redirect("selvbetjening:unit", sor_id=units[0].pk)
            context["units"] = units
    status = 200 if not context["errors"] else 400
    return render(request, "public/selfservice_start.html", context, status=status)


def _session_unit(request, sor_id) -> Unit | None:
    data = request.session.get(SESSION_KEY) or {}
    if str(sor_id) not in data.get("units", []):
        return None
    try:
        return services.find_for(sor_id, data.get("cvr", ""))
    except DomainError:
        return None


def _form_values(post) -> dict:
    return {name: post.get(f"new_{name}", "") for name in FORM_FIELDS}


def _request(unit, post) -> services.Request:
    return services.Request(unit=unit, new=_form_values(post), message=post.get("message", ""),
                            requester_name=post.get("requester_name", ""), requester_phone=post.get("requester_phone", ""),
                            requester_email=post.get("requester_email", ""))


def _form_context(unit, post=None, errors=None, **extra) -> dict:
    reg = services.registered(unit)
    values = _form_values(post) if post is not None else {}
    rows = [{"field": f, "new": values.get(f.name, ""), "errors": (errors or {}).get(f.name, []),
             "inherited": f.source is not None and f.source.pk != unit.pk} for f in reg.fields]
    labels = {f.name: f.label for f in reg.fields}
    labels.update({"responsible_name": _("den SOR-ansvarliges navn"), "responsible_email": _("den SOR-ansvarliges e-mail"),
                   "responsible_phone": _("den SOR-ansvarliges telefon"), "requester_name": _("dit navn"),
                   "requester_phone": _("dit telefonnummer"), "requester_email": _("din e-mail"),
                   "address": _("registreret e-mail")})
    summary = [("new_" + name if name in FORM_FIELDS else name if name != "address" else "address_0", labels[name], msg)
               for name, msgs in (errors or {}).items() if name in labels for msg in msgs]
    return {"unit": unit, "reg": reg, "rows": rows, "post": post or {}, "errors": errors or {}, "summary": summary,
            "values": values, "responsible_errors": {n: (errors or {}).get(n, []) for n in services.RESPONSIBLE_FIELDS},
            **extra}


@throttled("selfservice")
@require_http_methods(["GET", "POST"])
def unit(request, sor_id):
    found = _session_unit(request, sor_id)
    if found is None:
        return redirect("selvbetjening:start")
    addresses = [(label, services.shown(label, email)) for label, email in services.link_addresses(found)]
    if request.method == "GET":
        return render(request, "public/selfservice_unit.html", _form_context(found, addresses=addresses))
    address_wrong = request.POST.get("address_wrong") == "1" or not addresses
    choice = request.POST.get("address", "")
    index = int(choice) if ids.is_digits(choice) and len(choice) <= 3 else None
    try:
        result = services.request_submit(_request(found, request.POST), address=index,
                                         address_wrong=address_wrong, verified_cvr=verified_cvr(request))
    except services.TooManyLinks as exc:
        return too_many(request, exc.retry_after, str(exc))
    except ValidationFailed as exc:
        return render(request, "public/selfservice_unit.html",
                      _form_context(found, request.POST, _errors(exc), addresses=addresses,
                                    address_wrong=address_wrong, choice=choice), status=400)
    request.session.pop(SESSION_KEY, None)
    return render(request, "public/selfservice_done.html", {"unit": found, "result": result,
                                                            "link_minutes": settings.SOR_SELFSERVICE_LINK_MINUTES})


def _gone(request, exc: services.LinkRefused):
    return render(request, "public/selfservice_link_refused.html", {"message": str(exc), "case": exc.case,
                                                                    "expired": exc.expired}, status=410)


@throttled("selfservice")
@require_http_methods(["GET", "POST"])
def confirm(request, token):
    try:
        link = services.link_peek(token)
    except services.LinkRefused as exc:
        return _gone(request, exc)
    if request.method == "GET":
        return render(request, "public/selfservice_confirm.html", {"link": link})
    try:
        case = services.request_confirm(token)
    except services.LinkRefused as exc:
        return _gone(request, exc)
    except DomainError as exc:  # nothing was written; the link can be tried again
        return render(request, "public/selfservice_link_refused.html", {"message": str(exc)}, status=409)
    return render(request, "public/selfservice_confirmed.html", {"case": case, "unit": link.unit})


def _owner_units(owner):
    today = timezone.localdate()
    units = list(Unit.objects.filter(owner=owner).filter(Q(to_date__isnull=True) | Q(to_date__gte=today))
                 .order_by("sor_id")[:200])
    return sorted(units, key=lambda u: (len(u.ancestors), u.sor_id))  # the owner first, then down the tree


GRANT_KEY = "sor_followup_grant"
GRANT_MINUTES = 60


def _granted(request, token) -> bool:
    """Whether this browser used the follow-up link (within the last hour): it may go on."""
    grant = request.session.get(GRANT_KEY) or {}
    return grant.get("token") == services.token_hash(token) and grant.get("until", 0) > timezone.now().timestamp()


def _grant(request, token) -> None:
    request.session[GRANT_KEY] = {"token": services.token_hash(token),
                                  "until": timezone.now().timestamp() + GRANT_MINUTES * 60}


@throttled("selfservice")
@require_http_methods(["GET", "POST"])
def followup_page(request, token):
    granted = _granted(request, token)
    try:
        link = followup.followup_peek(token, granted=granted)
    except services.LinkRefused as exc:
        return _gone(request, exc)
    if request.method == "POST":
        if link.used_at is not None:  # already confirmed by a correction in this browser
            return redirect("selvbetjening:followup", token=token)
        try:
            case = followup.followup_confirm(token, note=request.POST.get("note", ""))
        except services.LinkRefused as exc:
            return _gone(request, exc)
        except DomainError as exc:
            return render(request, "public/selfservice_link_refused.html", {"message": str(exc)}, status=400)
        return render(request, "public/followup_confirmed.html", {"case": case, "owner": link.owner,
                                                                "months": settings.SOR_FOLLOWUP_MONTHS})
    units = [(u, services.registered(u)) for u in _owner_units(link.owner)]
    responsible = getattr(link.owner, "sor_responsible", None)
    return render(request, "public/followup.html", {"link": link, "token": token, "units": units,
                                                    "responsible": responsible, "grant_minutes": GRANT_MINUTES})


@throttled("selfservice")
@require_http_methods(["GET", "POST"])
def followup_correct(request, token, sor_id):
    granted = _granted(request, token)
    try:
        link = followup.followup_peek(token, granted=granted)
    except services.LinkRefused as exc:
        return _gone(request, exc)
    found = Unit.objects.filter(pk=sor_id, owner=link.owner).first()
    if found is None:
        return redirect("selvbetjening:followup", token=token)
    if request.method == "GET":
        return render(request, "public/selfservice_unit.html",
                      _form_context(found, {"requester_name": link.requester_name,
                                            "requester_phone": link.requester_phone}, followup_token=token))
    try:
        case = followup.followup_correct(token, _request(found, request.POST), granted=granted)
    except ValidationFailed as exc:
        return render(request, "public/selfservice_unit.html",
                      _form_context(found, request.POST, _errors(exc), followup_token=token), status=400)
    except services.LinkRefused as exc:
        return _gone(request, exc)
    except DomainError as exc:
        return render(request, "public/selfservice_link_refused.html", {"message": str(exc)}, status=409)
    _grant(request, token)
    return render(request, "public/selfservice_done.html", {"unit": found, "result": services.Submitted(case=case),
                                                            "followup_token": token, "grant_minutes": GRANT_MINUTES,
                                                            "added": link.used_at is not None})
