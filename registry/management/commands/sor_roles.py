from django.core.management.base import BaseCommand

from registry.roles import sync_roles


class Command(BaseCommand):
    help = "Create or update the staff roles (groups and their permissions)."

    def handle(self, *args, **options):
        for role, count in sync_roles().items():
            self.stdout.write(f"{role}: {count} permissions")
