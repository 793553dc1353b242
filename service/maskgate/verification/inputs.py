"""Images in requests: multipart file fields or base64 strings in a JSON body.

Every image endpoint takes either form; this module turns both into plain fields and bytes,
and documents both in OpenAPI.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from maskgate.errors import InvalidRequest, UnsupportedMediaType

Model = TypeVar("Model", bound=BaseModel)


def decode_base64(value: str, field: str) -> bytes:
    """Standard or URL-safe base64, with or without a ``data:...;base64,`` prefix."""
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    value = "".join(value.split())
    try:
        return base64.b64decode(
            value + "=" * (-len(value) % 4),
            altchars=b"-_" if "-" in value or "_" in value else None,
            validate=True,
        )
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{field} is not valid base64", field=field) from None


async def read_body(
    request: Request,
    model: type[Model],
    image_fields: tuple[str, ...],
    list_field: str | None = None,
) -> tuple[Model, dict[str, list[bytes]]]:
    """Parse a multipart or JSON body into ``model`` and the images it carries.

    ``image_fields`` name single images; ``list_field`` names a field of several images.
    In multipart bodies images are file parts; in JSON bodies base64 strings (a list of them
    for ``list_field``). The returned model holds the non-image fields.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    images: dict[str, list[bytes]] = {}
    fields: dict[str, Any] = {}
    names = set(image_fields) | ({list_field} if list_field else set())
    if content_type == "multipart/form-data":
        async with request.form() as form:  # closes the spooled uploads
            for key, value in form.multi_items():
                if key in names:
                    if not isinstance(value, UploadFile):
                        raise InvalidRequest(f"{key} must be a file part", field=key)
                    images.setdefault(key, []).append(await value.read())
                elif not isinstance(value, UploadFile):
                    fields[key] = value
    elif content_type == "application/json" or content_type.endswith("+json"):
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidRequest("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise InvalidRequest("the JSON body must be an object")
        for key, value in body.items():
            if key in image_fields and isinstance(value, str):
                images[key] = [decode_base64(value, key)]
            elif key == list_field and isinstance(value, list):
                images[key] = [decode_base64(str(v), f"{key}[{i}]") for i, v in enumerate(value)]
            else:
                fields[key] = value
    else:
        raise UnsupportedMediaType(
            "send multipart/form-data (image files) or application/json (base64 images)"
        )
    try:
        parsed = model.model_validate(fields)
    except ValidationError as error:
        raise InvalidRequest(
            "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()
            ),
            errors=[
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()
            ],
        ) from None
    return parsed, images


def openapi_body(
    json_model: type[BaseModel],
    files: dict[str, str],
    fields: dict[str, dict[str, Any]],
    required: list[str],
) -> dict[str, Any]:
    """``openapi_extra`` documenting both the multipart and the JSON form of a body."""
    properties: dict[str, Any] = {
        name: (
            {"type": "array", "items": {"type": "string", "format": "binary"}}
            if kind == "array"
            else {"type": "string", "format": "binary"}
        )
        for name, kind in files.items()
    }
    properties.update(fields)
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": properties, "required": required}
                },
                "application/json": {
                    "schema": json_model.model_json_schema(
                        ref_template="#/components/schemas/{model}"
                    )
                },
            },
        }
    }
