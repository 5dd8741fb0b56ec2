"""``POST /imports``: upload one file and load it as ``gongjian import KIND`` does.

The same pipeline as the CLI (layers.imports): every check, all or nothing unless
``skip_invalid``, idempotent re-imports, the audit log naming the caller. On top of it the
API adds who may import (editors and admins), their scope (every row must lie in the
caller's area, else nothing is loaded and the answer names the rows) and an upload limit
(``ApiSettings.max_upload_mb``) counted while the body streams into a temporary file.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.auth import require_roles
from api.deps import get_settings
from api.settings import ApiSettings
from layers.access import EDIT_ROLES, Caller
from layers.features import QueryError
from layers.imports import ImportOptions, ImportSummary, import_file
from layers.imports.base import UploadTooLarge

router = APIRouter(tags=["imports"])
editor = require_roles(*EDIT_ROLES)
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small form fields, besides the file
CHUNK = 1024 * 1024
TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}
FIELDS = (
    "kind",
    "crs",
    "dry_run",
    "skip_invalid",
    "existing",
    "layer",
    "effective_date",
    "income_year",
)


@router.post(
    "/imports",
    summary="Upload a file (multipart field `file`) and load it as a layer",
    responses={
        200: {"description": "the summary: read, inserted, updated, unchanged, rejected"},
        403: {"description": "role may not import, or rows outside your scope"},
        413: {"description": "the upload is larger than the limit"},
        422: {"description": "the file was refused: errors name file, row and field"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "kind"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "kind": {"type": "string", "examples": ["households"]},
                            "crs": {"type": "string", "examples": ["gcj02"]},
                            "dry_run": {"type": "boolean", "default": False},
                            "skip_invalid": {"type": "boolean", "default": False},
                            "existing": {"type": "string", "enum": ["update", "error"]},
                            "layer": {"type": "string"},
                            "effective_date": {"type": "string", "format": "date"},
                            "income_year": {"type": "integer", "minimum": 2000},
                        },
                    }
                }
            },
        }
    },
)
async def post_import(
    request: Request,
    caller: Caller = Depends(editor),
    settings: ApiSettings = Depends(get_settings),
) -> dict:
    limit = settings.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise _too_large(int(declared), limit)
    folder = Path(tempfile.mkdtemp(prefix="gongjian-upload-"))
    try:
        fields, path = await _receive(request, folder, limit)
        options = ImportOptions(
            actor=caller.actor,
            crs=fields.get("crs") or None,
            dry_run=_flag(fields, "dry_run"),
            skip_invalid=_flag(fields, "skip_invalid"),
            existing=_existing(fields),
            layer=fields.get("layer") or None,
            effective_date=_date(fields, "effective_date"),
            income_year=_year(fields, "income_year"),
            max_bytes=limit,
            scope=caller.scope.code,
        )
        engine = request.app.state.login_engine  # the importer stages and loads in bulk
        summary = await run_in_threadpool(import_file, engine, fields["kind"], path, options)
        return _summary_json(fields["kind"], summary)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _receive(request: Request, folder: Path, limit: int) -> tuple[dict[str, str], Path]:
    """The form's fields and the uploaded file, saved under its own name in ``folder``."""
    parser = MultiPartParser(
        request.headers,
        _counted(request.stream(), limit + FORM_OVERHEAD, limit),
        max_files=1,
        max_fields=len(FIELDS),
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise QueryError(f"not a multipart form with one file: {exc.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise QueryError("no multipart field 'file': send the file to import in it")
        fields = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise QueryError(f"unknown form field(s): {', '.join(unknown)}")
        if not fields.get("kind"):
            raise QueryError("no form field 'kind': say which layer to load (e.g. households)")
        path = folder / _safe_name(upload.filename)
        with open(path, "wb") as out:
            while chunk := await upload.read(CHUNK):
                out.write(chunk)
    finally:
        await form.close()
    return fields, path


async def _counted(stream: AsyncIterator[bytes], most: int, limit: int) -> AsyncIterator[bytes]:
    """The request body, refused (413) as soon as more than ``most`` bytes arrived."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > most:
            raise _too_large(seen, limit, more=True)
        yield chunk


def _too_large(size: int, limit: int, more: bool = False) -> UploadTooLarge:
    got = f"more than {size / 1e6:.1f} MB" if more else f"{size / 1e6:.1f} MB"
    return UploadTooLarge(
        f"the upload is {got}, more than the limit of {limit / 1e6:.1f} MB "
        "(GONGJIAN_MAX_UPLOAD_MB); split the file, or import it with the CLI"
    )


def _safe_name(filename: str | None) -> str:
    """The upload's own file name (errors quote it; its suffix says the format), no path."""
    name = Path((filename or "").replace("\\", "/")).name
    name = re.sub(r"[\x00-\x1f]", "", name).lstrip(".")
    return name or "upload"


def _flag(fields: dict[str, str], name: str) -> bool:
    value = fields.get(name, "").lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise QueryError(f"{name} must be true or false, got {fields[name]!r}")


def _existing(fields: dict[str, str]) -> str:
    value = fields.get("existing") or "update"
    if value not in ("update", "error"):
        raise QueryError(f"existing must be update or error, got {value!r}")
    return value


def _date(fields: dict[str, str], name: str) -> dt.date | None:
    value = fields.get(name) or None
    try:
        return None if value is None else dt.date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{name} must be a date like 2019-03-31, got {value!r}") from None


def _year(fields: dict[str, str], name: str) -> int | None:
    value = fields.get(name) or None
    if value is None:
        return None
    if not value.isdigit() or not 2000 <= int(value) <= 2100:
        raise QueryError(f"{name} must be a year 2000–2100, got {value!r}")
    return int(value)


def _summary_json(kind: str, summary: ImportSummary) -> dict:
    return {
        "kind": kind,
        "file": summary.path.name,
        "table": summary.layer,
        "dry_run": summary.dry_run,
        "read": summary.read,
        "inserted": summary.inserted,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "rejected": summary.rejected,
        "related": {
            table: {"inserted": inserted, "updated": updated}
            for table, (inserted, updated, _) in summary.extra.items()
        },
        "notes": summary.notes,
        "errors": summary.errors,
        "misplaced": summary.misplaced,
    }
