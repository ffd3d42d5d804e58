"""moto's DynamoDB attribute values serialized as they are (installed by ``dynamodb.install()``,
undone by its ``as_shipped()``; compared with moto as shipped in
``tests/integration/emulator_dynamodb``):

moto 5.2 serializes responses by walking the service model, trying ten union members with
attribute pickers for every attribute value of every item (and of every stream record's
images: most of a GetRecords' time). An ``AttributeValue`` is a union with exactly one member
set, and what moto holds for one is already its JSON form, apart from binary values (bytes,
which JSON carries base64-encoded): so a value made only of strings, numbers, booleans, nulls,
string and number sets, maps and lists of such values is written as it is, and any other
(binary anywhere in it) has its one member serialized by moto's own serializer methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Replace = Callable[[Any, str, Any], None]  # the DynamoDB replacements' ``replace``
_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def plain(value: Any) -> bool:
    """Whether an attribute value's JSON is the value itself (no binary anywhere in it)."""
    if type(value) is not dict or len(value) != 1:
        return False
    ((member, inner),) = value.items()
    scalar = _SCALARS.get(member)
    if scalar is not None:
        return type(inner) is scalar
    if member in ("SS", "NS"):
        return type(inner) is list and all(type(v) is str for v in inner)
    if member == "M":
        return type(inner) is dict and all(type(k) is str and plain(v) for k, v in inner.items())
    if member == "L":
        return type(inner) is list and all(plain(v) for v in inner)
    return False


def attribute_values_as_they_are(replace: Replace) -> None:
    from moto.core.serialize import BaseJSONSerializer

    structure = BaseJSONSerializer._serialize_type_structure

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and isinstance(value, dict) and len(value) == 1:
            if plain(value):  # its JSON is itself
                if key:
                    self._default_serialize(serialized, value, shape, key)
                else:
                    serialized.update(value)
                return
            ((member_key, member_value),) = value.items()
            member_shape = shape.members.get(member_key)
            if member_shape is not None and member_value is not None:
                wrapper = self.MAP_TYPE()
                member_shape.parent = shape
                self._serialize(wrapper, member_value, member_shape, member_key)
                if key:
                    self._default_serialize(serialized, wrapper, shape, key)
                else:
                    serialized.update(wrapper)
                return
        structure(self, serialized, value, shape, key)

    replace(BaseJSONSerializer, "_serialize_type_structure", serialize_structure)
