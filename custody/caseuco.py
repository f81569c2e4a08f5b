"""CASE/UCO (JSON-LD) description of items and their custody, for forensic tools that exchange provenance.

Every custody event becomes a ``case-investigation:InvestigativeAction`` (performer, object, result, times),
every item an ``observable:File`` with its hashes (``ContentDataFacet``) and, for photos, an ``EXIFFacet``;
a ``ProvenanceRecord`` per item carries its exhibit number. CASE 1.x / UCO 1.x vocabulary.
Archive-free and linear in records + events.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from . import humanize as h

_CONTEXT = {
    "action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "location": "https://ontology.unifiedcyberontology.org/uco/location/",
    "observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


def _dt(value: object) -> dict[str, str]:
    when = h.parse_time(str(value))
    text = str(value) if when is None or when.tzinfo is None else when.isoformat().replace("+00:00", "Z")
    return {"@type": "xsd:dateTime", "@value": text}


def _int(value: int | str) -> dict[str, str]:
    return {"@type": "xsd:integer", "@value": str(int(value))}


def _dec(value: float) -> dict[str, str]:
    return {"@type": "xsd:decimal", "@value": repr(float(value))}


def _ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


class _Ids:
    """Stable node IRIs: UUIDv5 of the archive id and a local name, so exports of the same facts agree."""

    def __init__(self, archive_id: str) -> None:
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:custody:{archive_id}")

    def __call__(self, kind: str, name: str) -> str:
        return f"kb:{kind}-{uuid.uuid5(self.namespace, f'{kind}/{name}')}"


def graph(
    *,
    archive_id: str,
    origin: str,
    records: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    roles: Mapping[str, str],
    exhibits: Mapping[str, str],
    case: str = "",
    bundle_id: str | None = None,
    tool_version: str = "",
) -> dict[str, object]:
    """The JSON-LD document (``@context`` + ``@graph``) for ``records`` (signed entries) and ``events``."""
    ids = _IdsCache(_Ids(archive_id))
    nodes: list[dict[str, object]] = []
    tool = ids("tool", "custody")
    nodes.append(
        {
            "@id": tool,
            "@type": "tool:Tool",
            "core:name": "custody",
            "tool:toolType": "evidence chain-of-custody archive",
            **({"tool:version": tool_version} if tool_version else {}),
        }
    )
    people: dict[str, str] = {}

    def person(key_id: str) -> str:
        if key_id not in people:
            iri = ids("actor", key_id)
            people[key_id] = iri
            name = names.get(key_id) or f"unregistered key {key_id[:12]}"
            role = roles.get(key_id)
            nodes.append(
                {
                    "@id": iri,
                    "@type": "identity:Person",
                    "core:name": name,
                    "core:description": f"custody actor; Ed25519 key id {key_id}" + (f"; role {role}" if role else ""),
                }
            )
        return people[key_id]

    items: dict[str, str] = {}
    provenance_records: list[str] = []
    for entry in records:
        rec = entry["record"]
        item = str(rec["item_id"])
        file_iri = ids("file", item)
        items[item] = file_iri
        facets: list[dict[str, object]] = [
            {
                "@id": ids("file-facet", item),
                "@type": "observable:FileFacet",
                "observable:fileName": str(rec.get("original_name", "")),
                "observable:sizeInBytes": _int(rec.get("size") or 0),
            },
            {
                "@id": ids("content-facet", item),
                "@type": "observable:ContentDataFacet",
                "observable:mimeType": str(rec.get("media_type", "")),
                "observable:sizeInBytes": _int(rec.get("size") or 0),
                "observable:hash": [
                    {
                        "@id": ids("hash-sha256", item),
                        "@type": "types:Hash",
                        "types:hashMethod": "SHA256",
                        "types:hashValue": {"@type": "xsd:hexBinary", "@value": str(rec["sha256"])},
                    }
                ],
            },
        ]
        metadata = rec.get("metadata") if isinstance(rec.get("metadata"), Mapping) else {}
        assert isinstance(metadata, Mapping)
        facets += _media_facets(ids, item, metadata)
        nodes.append(
            {
                "@id": file_iri,
                "@type": "observable:File",
                "core:name": f"{item}: {rec.get('original_name', '')}",
                "core:description": f"custody item {item}; BLAKE3 {rec.get('blake3', '')}",
                "core:hasFacet": facets,
            }
        )
        location = next((metadata[k] for k in ("gps", "location") if isinstance(metadata.get(k), Mapping)), None)
        objects = [_ref(file_iri)]
        if location is not None and h.coordinates(location):
            place = ids("location", item)
            coords: dict[str, object] = {
                "@id": ids("latlong", item),
                "@type": "location:LatLongCoordinatesFacet",
                "location:latitude": _dec(float(location["latitude"])),
                "location:longitude": _dec(float(location["longitude"])),
            }
            if isinstance(location.get("altitude"), int | float):
                coords["location:altitude"] = _dec(float(location["altitude"]))
            nodes.append(
                {
                    "@id": place,
                    "@type": "location:Location",
                    "core:description": f"where the file says {item} was captured: {h.coordinates(location)}",
                    "core:hasFacet": [coords],
                }
            )
            objects.append(_ref(place))
        record_iri = ids("provenance", item)
        provenance_records.append(record_iri)
        said = h.text({k: v for k, v in (rec.get("provenance") or {}).items() if v not in (None, "")})
        node: dict[str, object] = {
            "@id": record_iri,
            "@type": "case-investigation:ProvenanceRecord",
            "core:name": f"custody of {item}",
            "core:description": f"provenance stated at ingest: {said}" if said else "no provenance stated at ingest",
            "core:object": objects,
        }
        if exhibits.get(item):
            node["case-investigation:exhibitNumber"] = exhibits[item]
        nodes.append(node)
    actions: list[str] = []
    bundle_iri = None
    if bundle_id is not None:
        bundle_iri = ids("bundle", bundle_id)
        nodes.append(
            {
                "@id": bundle_iri,
                "@type": "observable:ObservableObject",
                "core:name": f"sealed bundle {bundle_id}",
                "core:description": "BagIt bag sealed with the exporter's Ed25519 key",
            }
        )
    for event in events:
        named = [items[i] for i in h.items_named(event) if i in items]
        action = str(event["action"])
        if not named and action not in {"actor.add", "archive.init"}:
            continue
        seq = int(event["seq"])
        iri = ids("event", str(seq))
        actions.append(iri)
        results: list[dict[str, str]] = []
        if action == "ingest":
            results = [_ref(items[i]) for i in h.items_named(event) if i in items]
            results += [_ref(ids("provenance", i)) for i in h.items_named(event) if i in items]
        elif action == "annotate":
            note = ids("annotation", str(seq))
            payload = event["payload"]
            annotation: dict[str, object] = {
                "@id": note,
                "@type": "core:Annotation",
                "core:statement": h.text(payload.get("text")),
                "core:object": [_ref(x) for x in named],
                "core:createdBy": _ref(person(str(event["actor"]))),
                "core:objectCreatedTime": _dt(event["time"]),
            }
            if payload.get("tags"):
                annotation["core:tag"] = [str(t) for t in payload["tags"]]
            nodes.append(annotation)
            results = [_ref(note)]
        elif action == "export" and bundle_iri is not None and event["payload"].get("bundle_id") == bundle_id:
            results = [_ref(bundle_iri)]
        elif action == "actor.add":
            results = [_ref(person(str(event["payload"].get("key_id", ""))))]
        node = {
            "@id": iri,
            "@type": "case-investigation:InvestigativeAction",
            "core:name": h.action(action),
            "core:description": f"custody log event {seq} ({action}): {h.describe_event(event, names)}",
            "action:startTime": _dt(event["time"]),
            "action:endTime": _dt(event["time"]),
            "action:performer": _ref(person(str(event["actor"]))),
            "action:instrument": [_ref(tool)],
        }
        if named:
            node["action:object"] = [_ref(x) for x in named]
        if results:
            node["action:result"] = results
        nodes.append(node)
    if provenance_records or actions:
        nodes.append(
            {
                "@id": ids("investigation", case or origin),
                "@type": "case-investigation:Investigation",
                "core:name": case or f"items of {origin}",
                "case-investigation:focus": "chain of custody",
                "core:object": [_ref(x) for x in provenance_records + actions],
            }
        )
    return {"@context": {**_CONTEXT, "kb": f"urn:custody:{archive_id}:"}, "@graph": nodes}


class _IdsCache:
    def __init__(self, ids: _Ids) -> None:
        self._ids = ids
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, name: str) -> str:
        key = (kind, name)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._ids(kind, name)
        return found


def _media_facets(ids: _IdsCache, item: str, metadata: Mapping[str, Any]) -> list[dict[str, object]]:
    facets: list[dict[str, object]] = []
    if metadata.get("kind") == "image" and isinstance(metadata.get("width"), int) and metadata.get("height"):
        facets.append(
            {
                "@id": ids("raster-facet", item),
                "@type": "observable:RasterPictureFacet",
                "observable:pictureWidth": _int(metadata["width"]),
                "observable:pictureHeight": _int(metadata["height"]),
            }
        )
    if metadata.get("kind") == "image" and metadata.get("has_exif"):
        entries: dict[str, str] = {}
        if metadata.get("captured_at"):
            entries["DateTimeOriginal"] = str(metadata["captured_at"])
        device = metadata.get("device")
        if isinstance(device, Mapping):
            for key, tag in (("make", "Make"), ("model", "Model"), ("software", "Software")):
                if device.get(key):
                    entries[tag] = str(device[key])
        gps = metadata.get("gps")
        if isinstance(gps, Mapping):
            for key, tag in (("latitude", "GPSLatitude"), ("longitude", "GPSLongitude"), ("altitude", "GPSAltitude")):
                if isinstance(gps.get(key), int | float):
                    entries[tag] = repr(float(gps[key]))
        if entries:
            facets.append(
                {
                    "@id": ids("exif-facet", item),
                    "@type": "observable:EXIFFacet",
                    "observable:exifData": {
                        "@id": ids("exif-data", item),
                        "@type": "types:ControlledDictionary",
                        "types:entry": [
                            {
                                "@id": ids("exif-entry", f"{item}/{key}"),
                                "@type": "types:ControlledDictionaryEntry",
                                "types:key": key,
                                "types:value": value,
                            }
                            for key, value in entries.items()
                        ],
                    },
                }
            )
    return facets
