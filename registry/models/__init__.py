from .changesets import Change, ChangeSet, ChangeSetEvent, ChangeSetStatus, FreezeWindow, Risk
from .codes import (
    ClinicalSpeciality,
    CodeList,
    EdiAdministrator,
    EdiMessageType,
    EntityType,
    Municipality,
    NetworkOperator,
    OwnerType,
    PostalDistrict,
    Region,
    SpecialityType,
    SystemSupplier,
    SystemType,
)
from .imports import ImportJob
from .location import LocationNumber, LocationNumberMessageType
from .operations import ChangeEvent, EventEntity, EventKind, Operation, OperationKind
from .staff import StaffProfile
from .units import ADDRESS_FIELDS, ADDRESS_KINDS, Level, LocationMode, Unit

__all__ = [
    "ADDRESS_FIELDS",
    "ADDRESS_KINDS",
    "Change",
    "ChangeEvent",
    "ChangeSet",
    "ChangeSetEvent",
    "ChangeSetStatus",
    "FreezeWindow",
    "ClinicalSpeciality",
    "CodeList",
    "EdiAdministrator",
    "EdiMessageType",
    "EntityType",
    "EventEntity",
    "EventKind",
    "ImportJob",
    "Level",
    "LocationMode",
    "LocationNumber",
    "LocationNumberMessageType",
    "Municipality",
    "NetworkOperator",
    "Operation",
    "OperationKind",
    "OwnerType",
    "PostalDistrict",
    "Region",
    "Risk",
    "SpecialityType",
    "StaffProfile",
    "SystemSupplier",
    "SystemType",
    "Unit",
]
