"""Offline validation of the static STAC catalog against the official JSON schemas.

Every STAC object under a path (``catalog.json``, ``collection.json``, item files) is checked
against the STAC core schema of its ``type`` and ``stac_version`` and against the schema of every
URL in its ``stac_extensions``. The schemas are vendored in ``catalog/schemas/`` (their sources,
commits and licences are in ``catalog/schemas/README.md``; ``catalog/schemas/index.json`` maps
each official URL to its file) and resolved through a :class:`referencing.Registry` that refuses
to retrieve anything: validation never touches the network, and a ``$ref`` to a schema we do not
vendor is reported as "schema not vendored", never fetched.

Decisions that live here:

* **What is a STAC object.** A ``*.json`` file whose ``type`` is ``Catalog``, ``Collection`` or
  ``Feature`` or that has a ``stac_version``; other JSON files are not catalog objects and are
  skipped (temporary files of an interrupted publish end in ``.tmpPID`` and are never read).
* **Structure as well as schemas.** A ``root``/``parent``/``child``/``item``/``collection`` link
  and an asset with a relative href must point at an existing file (with ``checksums``, asset
  sizes and SHA-256 must equal ``file:size``/``file:checksum``), and an item file must be listed by a
  collection (an item no collection lists is what a publish killed before its collection write
  leaves behind; publishing that day again repairs it).
* **Messages.** For ``oneOf``/``anyOf`` failures the deepest failing sub-schema is reported, so a
  problem names the field (``$.properties['proj:code']``) instead of "not valid under any".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from jsonschema_specifications import REGISTRY as METASCHEMAS
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT7

from smprod.errors import CatalogError, SchemaNotVendoredError

#: The vendored schemas and their index (official URL -> file).
SCHEMAS = Path(__file__).parent / "schemas"
#: Core schema of each STAC object type, relative to ``https://schemas.stacspec.org/v<version>/``
#: (STAC spec 1.1.0, ``item-spec``/``collection-spec``/``catalog-spec`` folders).
CORE_SCHEMA_PATHS = {
    "Feature": "item-spec/json-schema/item.json",
    "Collection": "collection-spec/json-schema/collection.json",
    "Catalog": "catalog-spec/json-schema/catalog.json",
}
#: Link relations that make up the catalog's tree; their relative targets must exist.
STRUCTURAL_RELS = frozenset({"root", "parent", "child", "item", "collection"})


@dataclass(frozen=True)
class Problem:
    """One reason a catalog is invalid.

    Attributes:
        file: the JSON file.
        json_path: where in the file (``$`` = the whole object), e.g. ``$.properties.datetime``.
        message: what is wrong.
        schema: URL of the schema that failed, empty for structural problems.
    """

    file: Path
    json_path: str
    message: str
    schema: str = ""

    def __str__(self) -> str:
        where = f" [{self.schema}]" if self.schema else ""
        return f"{self.file}: {self.json_path}: {self.message}{where}"


@dataclass(frozen=True)
class CatalogReport:
    """The outcome of :func:`validate_catalog`: how many objects were checked and what failed."""

    root: Path
    objects: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _refuse(uri: str) -> Resource:
    """The registry's retriever: nothing outside the vendored files is ever fetched."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


@cache
def schema_registry(root: Path = SCHEMAS) -> Registry:
    """A registry of every vendored schema under its official URL, plus the JSON Schema
    meta-schemas (``http://json-schema.org/draft-07/schema`` is referenced by the collection schema).

    Each file is registered under the URL given in ``index.json`` (not its ``$id``: the STAC 1.1.0
    ``common.json`` declares ``.../commonjson``, a known typo, while ``item.json`` refers to it as
    ``common.json``). Files without ``$schema`` default to Draft 7, which every vendored file uses.
    """
    index = json.loads((root / "index.json").read_text())["schemas"]
    resources = [
        (url, Resource.from_contents(json.loads((root / rel).read_text()), default_specification=DRAFT7))
        for url, rel in index.items()
    ]
    return Registry(retrieve=_refuse).with_resources(resources).combine(METASCHEMAS)  # type: ignore[call-arg]


@cache
def _validator(url: str, root: Path = SCHEMAS) -> Validator:
    registry = schema_registry(root)
    try:
        schema = registry.contents(urldefrag(url).url)
    except NoSuchResource as err:
        raise SchemaNotVendoredError(url) from err
    cls = validator_for(schema)
    return cls(schema, registry=registry)  # type: ignore[call-arg]


def schema_urls(obj: dict[str, Any]) -> list[str]:
    """The schemas an object must satisfy: its core schema, then one per ``stac_extensions`` URL.

    Raises:
        CatalogError: when ``type`` is not a STAC object type.
    """
    kind = obj.get("type")
    if kind not in CORE_SCHEMA_PATHS:
        raise CatalogError(f"type {kind!r} is not a STAC Catalog, Collection or Feature (item)")
    core = f"https://schemas.stacspec.org/v{obj.get('stac_version', '?')}/{CORE_SCHEMA_PATHS[kind]}"
    extensions = obj.get("stac_extensions") or []
    return [core, *(url for url in extensions if isinstance(url, str))]


def object_problems(obj: dict[str, Any], file: Path, root: Path = SCHEMAS) -> list[Problem]:
    """Schema problems of one STAC object (core and every extension); empty when valid."""
    try:
        urls = schema_urls(obj)
    except CatalogError as err:
        return [Problem(file, "$.type", str(err))]
    problems = []
    for url in urls:
        try:
            validator = _validator(url, root)
            for error in validator.iter_errors(obj):
                problems.extend(_leaf_problems(error, file, url))
        except SchemaNotVendoredError as err:
            problems.append(Problem(file, _extension_path(obj, url), str(err), url))
        except Unresolvable as err:
            ref = getattr(err, "ref", str(err))
            problems.append(Problem(file, "$", str(SchemaNotVendoredError(ref)), url))
    return problems


def _extension_path(obj: dict[str, Any], url: str) -> str:
    extensions = obj.get("stac_extensions") or []
    return f"$.stac_extensions[{extensions.index(url)}]" if url in extensions else "$.stac_version"


def _leaf_problems(error: ValidationError, file: Path, url: str) -> list[Problem]:
    """The deepest failures under ``error`` (one per distinct place and message)."""
    leaves = list(_leaves(error))
    depth = max(len(leaf.absolute_path) for leaf in leaves)
    seen: dict[tuple[str, str], Problem] = {}
    for leaf in leaves:
        if len(leaf.absolute_path) == depth:
            problem = Problem(file, leaf.json_path, leaf.message, url)
            seen.setdefault((problem.json_path, problem.message), problem)
    return list(seen.values())


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    if not error.context:
        yield error
        return
    for sub in error.context:
        yield from _leaves(sub)


def validate_file(path: Path, root: Path = SCHEMAS, checksums: bool = False) -> list[Problem]:
    """Schema, link and asset problems of one JSON file (an unreadable file is one problem).

    Args:
        path: the JSON file.
        root: folder of the vendored schemas.
        checksums: also compare each local asset's size and SHA-256 with ``file:size`` and
            ``file:checksum`` (reads every asset; off by default).
    """
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return [Problem(path, "$", f"not readable JSON: {err}")]
    if not isinstance(obj, dict):
        return [Problem(path, "$", "not a JSON object")]
    return (
        object_problems(obj, path, root) + _link_problems(obj, path) + _asset_problems(obj, path, checksums)
    )


def _local(href: str) -> bool:
    return "://" not in href and not href.startswith("/") and ":" not in href.split("/", 1)[0]


def _asset_problems(obj: dict[str, Any], path: Path, checksums: bool) -> list[Problem]:
    """A relative asset href must name an existing file; with ``checksums``, the right one."""
    problems = []
    assets = obj.get("assets") if isinstance(obj.get("assets"), dict) else {}
    for key, asset in (assets or {}).items():
        href = str(asset.get("href", "")) if isinstance(asset, dict) else ""
        if not href or not _local(href):
            continue
        target = path.parent / href
        if not target.is_file():
            problems.append(Problem(path, f"$.assets.{key}.href", f"asset file {href!r} does not exist"))
        elif checksums:
            problems.extend(_checksum_problems(asset, target, path, key))
    return problems


def _checksum_problems(asset: dict[str, Any], target: Path, path: Path, key: str) -> list[Problem]:
    from catalog.items import file_fields

    actual = file_fields(target)
    return [
        Problem(
            path, f"$.assets.{key}['{field}']", f"{asset[field]!r} differs from the file's {actual[field]!r}"
        )
        for field in ("file:size", "file:checksum")
        if field in asset and asset[field] != actual[field]
    ]


def _link_problems(obj: dict[str, Any], path: Path) -> list[Problem]:
    problems = []
    for i, link in enumerate(obj.get("links") or []):
        if not isinstance(link, dict) or link.get("rel") not in STRUCTURAL_RELS:
            continue
        href = str(link.get("href", ""))
        if "://" in href or href.startswith("/"):
            continue  # absolute links are the publisher's business, not the static tree's
        if not (path.parent / href).is_file():
            problems.append(
                Problem(path, f"$.links[{i}].href", f"{link['rel']} link target {href!r} does not exist")
            )
    return problems


def is_stac_object(obj: object) -> bool:
    """True for a JSON value that claims to be a STAC object (see the module docstring)."""
    return isinstance(obj, dict) and (obj.get("type") in CORE_SCHEMA_PATHS or "stac_version" in obj)


def validate_catalog(path: Path, root: Path = SCHEMAS, checksums: bool = False) -> CatalogReport:
    """Validate every STAC object under ``path`` (a catalog directory or one JSON file).

    With ``checksums``, every local asset is also read and compared with its ``file:*`` fields.

    Raises:
        CatalogError: when ``path`` does not exist.
    """
    if not path.exists():
        raise CatalogError(f"{path} does not exist: give a catalog directory or a STAC JSON file")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.json") if p.is_file())
    problems: list[Problem] = []
    objects, listed, items = 0, set(), []
    for file in files:
        obj = _load(file)
        if obj is not None and not is_stac_object(obj):
            continue
        objects += 1
        problems.extend(validate_file(file, root, checksums))
        if isinstance(obj, dict) and obj.get("type") == "Feature":
            items.append(file)
        listed.update(_item_targets(obj, file))
    if path.is_dir():
        problems.extend(
            Problem(f, "$", "item is not listed by any collection (publish that day again)")
            for f in items
            if f.resolve() not in listed
        )
    return CatalogReport(path, objects, tuple(problems))


def _load(file: Path) -> object:
    """The parsed file, or None when it cannot be parsed (validate_file reports why)."""
    try:
        return json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _item_targets(obj: object, file: Path) -> set[Path]:
    if not isinstance(obj, dict):
        return set()
    links = [link for link in obj.get("links") or [] if isinstance(link, dict) and link.get("rel") == "item"]
    return {(file.parent / str(link.get("href", ""))).resolve() for link in links}
