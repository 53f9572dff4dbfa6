from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class StaffLocaleMiddleware(LocaleMiddleware):
    """Danish unless the user chose otherwise with the language switch (the cookie).

    Django's own middleware would follow the browser's Accept-Language, so a staff member with an
    English browser would get an English register by surprise; SDS works in Danish."""

    def process_request(self, request):
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if language not in dict(settings.LANGUAGES):
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
