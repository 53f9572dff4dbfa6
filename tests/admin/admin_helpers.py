"""Helpers for driving the admin with the Django test client like a person would: open a form,
keep what it shows, change a few fields, post it back."""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.contrib.messages import get_messages


def form_data(response, **changes) -> dict:
    """POST data of the admin form on `response` as the browser would send it unchanged, with
    `changes` applied (None removes a field)."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            if value:
                data[name] = "on"
            continue
        if isinstance(widget, forms.NullBooleanSelect):
            data[name] = {True: "true", False: "false", None: "unknown"}[value]
            continue
        if isinstance(field, forms.ModelMultipleChoiceField):
            data[name] = [str(getattr(v, "pk", v)) for v in (value or [])]
            continue
        prepared = value  # BoundField.value() is already prepared for the widget
        if prepared is None:
            prepared = ""
        elif isinstance(prepared, dt.date):
            prepared = prepared.isoformat()
        data[name] = str(prepared)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
            else:
                data.pop(name, None)
        else:
            data[name] = value
    return data


def change_url(unit_or_pk) -> str:
    return f"/admin/registry/unit/{getattr(unit_or_pk, 'pk', unit_or_pk)}/change/"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def form_errors(response) -> dict:
    form = response.context["adminform"].form
    return {name: [str(e) for e in errs] for name, errs in form.errors.items()}


def text_of(response) -> str:
    """The page as text (tags stripped, whitespace collapsed) for asserting what a person reads."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
