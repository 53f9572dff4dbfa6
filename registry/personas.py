"""The demo and test personas: one user per staff role (password = user name, demo only)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from .models import Region, StaffProfile
from .roles import GUEST, REGIONAL, SOR_ADMIN, SUPPORT, sync_roles

# user name -> (role, region code, what they may do)
PERSONAS = {
    "sor-admin": (SOR_ADMIN, None, "SOR-administrator: everything except deleting"),
    # A second SOR-administrator, so that four-eyes approval (one proposes, another approves) can be tried.
    "sor-admin2": (SOR_ADMIN, None, "second SOR-administrator: the other pair of eyes"),
    "support": (SUPPORT, None, "support desk: contact data of any unit, no code lists, no closing"),
    "region-nord": (REGIONAL, "1081", "regional administrator: units of Region Nordjylland only"),
    "guest": (GUEST, None, "guest: reads everything, changes nothing"),
}


def ensure_personas(*, password_is_username: bool = True) -> dict:
    sync_roles()
    users = {}
    User = get_user_model()
    for username, (role, region_code, _doc) in PERSONAS.items():
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        if created and password_is_username:
            user.set_password(username)
            user.save()
        user.groups.set([Group.objects.get(name=role)])
        region = Region.objects.get(code=region_code) if region_code else None
        StaffProfile.objects.update_or_create(user=user, defaults={"region": region})
        users[username] = user
    return users
