"""Machine-readable provenance of the outputs of safeguarded models (face swapping), read back.

The record is the output's provenance tag (`Model.provenance_tag()`: `made_by`, `model`, `weights`,
`weights_sha256`) plus the fields `safeguard_fields` adds: the IPTC digital source type for composites made
with a trained algorithm, tool and version, the sha256 of the consent attestation, whether the visible
badge and the invisible watermark are on, and the date. The image writer (`i2i.io.image_write`) stores a
tag that carries `digital_source_type` three ways: as JSON like every i2i tag (`imageio.read_provenance`),
as XMP (a PNG iTXt chunk `XML:com.adobe.xmp`, a JPEG APP1 segment, WebP's XMP chunk, the TIFF XMLPacket
tag), and as a JSON sidecar `NAME.EXT.provenance.json` beside the output (also beside videos, whose
container metadata holds the JSON). `read_record(path)` reads the XMP, or the sidecar.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from i2i._version import __version__
from i2i.errors import I2IError
from i2i.io.files import atomic_write_text, sha256_file

#: IPTC NewsCodes digital source type of a composite made with a trained algorithm (a face swap)
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
#: the PNG iTXt keyword of XMP (Adobe's XMP specification, part 3)
PNG_XMP_KEY = "XML:com.adobe.xmp"
SIDECAR_SUFFIX = ".provenance.json"
#: the fields the watermark payload hashes: what made the output (not when, nor which marks)
IDENTITY_FIELDS = ("tool", "version", "model", "weights_sha256", "attestation_sha256")
PAYLOAD_BYTES = 8

_NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "i2i": "urn:i2i:provenance:1.0#",
}


def safeguard_fields(attestation_sha256: str | None, marks: dict[str, bool]) -> dict[str, str]:
    """The provenance fields of a safeguarded model's output (all text, as every provenance tag)."""
    fields = {
        "digital_source_type": DIGITAL_SOURCE_TYPE,
        "tool": "i2i",
        "version": __version__,
        "attestation_sha256": attestation_sha256 or "none",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return fields | {mark: "on" if on else "off" for mark, on in marks.items()}


def is_safeguarded(tag: dict[str, str] | None) -> bool:
    """Whether a provenance tag asks for XMP and a sidecar (it carries a digital source type)."""
    return bool(tag) and "digital_source_type" in tag


def watermark_payload(tag: dict[str, str]) -> bytes:
    """The 8 bytes an output's invisible watermark carries: a sha256 prefix of the record's identity
    fields (tool, version, model, weights and attestation hashes), so a read mark can be matched to a
    record (`read_record`) without trusting the metadata around it."""
    identity = {k: tag.get(k, "") for k in IDENTITY_FIELDS}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).digest()
    return digest[:PAYLOAD_BYTES]


# ---------------------------------------------------------------------------------------------- XMP


def xmp_packet(tag: dict[str, str]) -> bytes:
    """The tag as an XMP packet: the IPTC digital source type, xmp:CreatorTool and xmp:CreateDate, and
    every field of the tag under the `i2i` namespace (so `parse_xmp` gives the tag back)."""
    attrs = [f"{name}:{key}={quoteattr(value)}" for name, key, value in _standard_fields(tag)]
    attrs += [f"i2i:{key}={quoteattr(str(value))}" for key, value in tag.items() if _xml_name(key)]
    namespaces = " ".join(f"xmlns:{p}={quoteattr(u)}" for p, u in _NS.items() if p not in ("x", "rdf"))
    body = "\n    ".join([f'rdf:about="" {namespaces}', *attrs])
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        f'<x:xmpmeta xmlns:x="{_NS["x"]}">\n'
        f' <rdf:RDF xmlns:rdf="{_NS["rdf"]}">\n'
        f"  <rdf:Description {body}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    ).encode()


def _standard_fields(tag: dict[str, str]) -> list[tuple[str, str, str]]:
    fields = []
    if source_type := tag.get("digital_source_type"):
        fields.append(("Iptc4xmpExt", "DigitalSourceType", source_type))
    if made_by := tag.get("made_by"):
        fields.append(("xmp", "CreatorTool", made_by))
    if date := tag.get("date"):
        fields.append(("xmp", "CreateDate", date))
    return fields


def _xml_name(key: str) -> bool:
    return bool(key) and (key[0].isalpha() or key[0] == "_") and all(c.isalnum() or c in "_-." for c in key)


def parse_xmp(packet: bytes | str) -> dict[str, str] | None:
    """The i2i record in an XMP packet (None when it holds none); the IPTC digital source type is read
    from its standard property when the i2i fields lack it. Packets with DTDs are not parsed."""
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else packet
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return None
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return None
    try:
        root = ET.fromstring(text[start : end + len("</x:xmpmeta>")])
    except ET.ParseError:
        return None
    record: dict[str, str] = {}
    source_type = None
    for description in root.iter(f"{{{_NS['rdf']}}}Description"):
        for name, value in description.attrib.items():
            if name.startswith(f"{{{_NS['i2i']}}}"):
                record[name.split("}", 1)[1]] = value
            elif name == f"{{{_NS['Iptc4xmpExt']}}}DigitalSourceType":
                source_type = value
        for child in description:
            if child.tag == f"{{{_NS['Iptc4xmpExt']}}}DigitalSourceType" and child.text:
                source_type = child.text.strip()
    if source_type and "digital_source_type" not in record:
        record["digital_source_type"] = source_type
    return record or None


# ------------------------------------------------------------------------------------------ sidecars


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the JSON sidecar of an output goes: `NAME.EXT.provenance.json` beside it."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_sidecar(path: str | os.PathLike, tag: dict[str, str]) -> Path:
    """Write the sidecar of the (already written) output `path`: the record, the output's file name and
    sha256 (which binds the sidecar to that file). Atomic; returns the sidecar's path."""
    path = Path(path)
    sidecar = sidecar_path(path)
    content = {"file": path.name, "sha256": sha256_file(path), "provenance": dict(tag)}
    atomic_write_text(sidecar, json.dumps(content, indent=2, ensure_ascii=False) + "\n")
    return sidecar


def read_sidecar(path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar of output `path` as written (`file`, `sha256`, `provenance`), or None if it has none."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None
    try:
        content = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise I2IError(f"{sidecar}: not a provenance sidecar ({exc})") from None
    if not isinstance(content, dict) or not isinstance(content.get("provenance"), dict):
        raise I2IError(f"{sidecar}: not a provenance sidecar (no 'provenance' record)")
    return content


# ------------------------------------------------------------------------------------------- reading


def read_record(path: str | os.PathLike, *, source: str = "auto") -> dict[str, str] | None:
    """The provenance record of an output: from the XMP inside the file (`source="file"`), from its JSON
    sidecar (`"sidecar"`), or the first found (`"auto"`). None when there is none."""
    if source not in ("auto", "file", "sidecar"):
        raise ValueError(f"source must be auto, file or sidecar, not {source!r}")
    path = Path(path)
    if source in ("auto", "file"):
        packet = read_xmp(path)
        record = parse_xmp(packet) if packet else None
        if record is not None or source == "file":
            return record
    content = read_sidecar(path)
    return {str(k): str(v) for k, v in content["provenance"].items()} if content else None


def read_xmp(path: str | os.PathLike) -> bytes | None:
    """The raw XMP packet of a PNG, JPEG, WebP or TIFF file (None without one, or for other files)."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head in (b"II*\x00", b"MM\x00*"):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            value = tif.pages.first.tags.valueof(700)
        return bytes(value) if value is not None else None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            value = im.info.get(PNG_XMP_KEY) if im.format == "PNG" else im.info.get("xmp")
    except (UnidentifiedImageError, OSError):
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value) if value else None
