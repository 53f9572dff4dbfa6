import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sor_admin.settings")

app = Celery("sor_admin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
