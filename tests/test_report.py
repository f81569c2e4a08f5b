"""The court report (PDF and HTML) and the CASE/UCO export, checked with the tools a court or lab would use."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import html5lib
import pytest

from custody_cli.main import main
from tests.support.archives import PASSPHRASES, Cli, use_cheap_keys
from tests.support.bundles import members, rewrite
from tests.support.schemas import validate

CASE = "UA-2026-0228"
PREFIX = "ICC-01/22-P"
CASE_VALIDATE = shutil.which("case_validate") or str(Path(__file__).parents[1] / ".venv/bin/case_validate")


def _run(env: dict[str, str], *args: str | Path, actor: str = "alice") -> str:
    """custody in-process for a module-scoped fixture (no capsys there); returns stdout, asserts success."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**env, "CUSTODY_ACTOR": actor, "CUSTODY_PASSPHRASE": PASSPHRASES[actor]}.items():
            mp.setenv(key, value)
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main([str(a) for a in args])
    assert code == 0, f"custody {' '.join(map(str, args))}: {stderr.getvalue()}{stdout.getvalue()}"
    return stdout.getvalue()


def _video(path: Path) -> Path:
    """A QuickTime clip with a creation time and an ISO 6709 location, as a phone writes them."""
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=3:size=320x240:rate=25",
            "-metadata", "creation_time=2026-02-28T12:10:00Z", "-metadata", "location=-33.8688+151.2093/",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mov", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


@dataclass(frozen=True)
class Demo:
    root: Path
    env: dict[str, str]
    bundle: Path
    folder: Path
    items: list[str]
    records: list[dict[str, object]]
    events: list[dict[str, object]]

    def text(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo case: four people, geotagged photos, a video, a transcript, a corrected annotation, a copy taken
    out, then a sealed export with exhibit numbers, its report and CASE/UCO."""
    root = tmp_path_factory.mktemp("demo")
    env = {"CUSTODY_ARCHIVE": str(root / "archive")}
    with pytest.MonkeyPatch.context() as mp:
        use_cheap_keys(mp)  # a module-wide fixture runs before the per-test cheap_keys
        mp.setenv("CUSTODY_NEW_PASSPHRASE", PASSPHRASES["alice"])
        _run(env, "init", root / "archive", "--admin", "alice")
        for name, role in (("bob", "archivist"), ("carol", "analyst"), ("dave", "reviewer")):
            mp.setenv("CUSTODY_NEW_PASSPHRASE", PASSPHRASES[name])
            _run(env, "actor", "add", name, "--role", role)
    _run(env, "config", "set", "timezone", "Europe/Kyiv")
    _run(env, "config", "set", "organization", "Example Documentation Centre")
    _run(env, "samples", root / "incoming")
    _video(root / "incoming" / "strike_video.mov")
    _run(
        env, "ingest", "-r", root / "incoming", "--case", CASE, "--collected-by", "Field team 3",
        "--collected-at", "2026-03-01T09:30:00+02:00", "--method", "handed over on a USB stick", actor="bob",
    )  # fmt: skip
    _run(env, "annotate", "EV-000003", "Remnant of a sub-munition", "--tag", "munition", actor="carol")
    first = [e for e in json.loads(_run(env, "log", "EV-000003", "--json")) if e["action"] == "annotate"][-1]
    _run(
        env, "annotate", "EV-000003", "Remnant of a 9N210 sub-munition (fins visible)", "--tag", "munition",
        "--supersedes", str(first["seq"]), actor="carol",
    )  # fmt: skip
    _run(env, "get", "EV-000001", "--out", root / "copy.jpg", "--purpose", "exhibit preparation", actor="dave")
    bundle = root / "bundle.zip"
    _run(
        env, "export", "--case", CASE, "--out", bundle, "--purpose", "disclosure to the prosecution",
        "--exhibit-prefix", PREFIX, "--case-uco", actor="bob",
    )  # fmt: skip
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "unzipped")
    (folder,) = list((root / "unzipped").iterdir())
    records = json.loads((folder / "custody/items.json").read_text())
    events = [json.loads(line) for line in (folder / "custody/events.jsonl").read_text().splitlines()]
    items = [r["record"]["item_id"] for r in records]
    return Demo(root, env, bundle, folder, items, records, events)


def _pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    match = re.search(r"^Pages:\s+(\d+)$", info, re.M)
    assert match, info
    return int(match.group(1))


# The PDF, read with poppler's tools


def test_pdfinfo_reads_the_title_and_the_pages(demo: Demo) -> None:
    info = subprocess.run(
        ["pdfinfo", str(demo.folder / "custody/report.pdf")], check=True, capture_output=True, text=True
    ).stdout
    assert re.search(rf"^Title:\s+Chain-of-custody report {demo.folder.name} - case {CASE}$", info, re.M), info
    assert re.search(r"^Page size:.*\(A4\)$", info, re.M)
    # Cover, index and roster, then one section per exhibit.
    assert _pages(demo.folder / "custody/report.pdf") >= 2 + len(demo.items)


def test_pdf_text_names_every_item_exhibit_digest_and_actor(demo: Demo) -> None:
    text = _pdftotext(demo.folder / "custody/report.pdf")
    for position, entry in enumerate(demo.records, 1):
        record = entry["record"]
        assert isinstance(record, dict)
        assert record["item_id"] in text
        assert f"{PREFIX}{position:03d}" in text
        assert str(record["sha256"])[:16] in text
    for name in ("alice", "bob", "carol", "dave"):
        assert re.search(rf"\b{name}\b", text), name
    assert "Example Documentation Centre" in text and "disclosure to the prosecution" in text


def test_every_pdf_page_has_a_page_n_of_m_footer_and_the_running_header(demo: Demo) -> None:
    pdf = demo.folder / "custody/report.pdf"
    total = _pages(pdf)
    pages = _pdftotext(pdf).split("\f")
    for number in range(1, total + 1):
        page = pages[number - 1]
        assert f"page {number} of {total}" in page
        assert f"{demo.folder.name} · case {CASE}" in page


def test_no_page_ends_with_a_heading_separated_from_its_table(demo: Demo) -> None:
    headings = {
        "Record (signed at ingest)",
        "What the file says about itself",
        "Provenance (as stated at ingest)",
        "Flags",
        "Annotations",
        "Custody timeline",
        "Exhibit index",
        "Actors",
    }
    for number, page in enumerate(_pdftotext(demo.folder / "custody/report.pdf").split("\f")[:-1], 1):
        lines = [ln.strip() for ln in page.splitlines() if ln.strip() and "page " not in ln]
        assert lines and lines[-1] not in headings, f"page {number} ends with the heading {lines[-1]!r}"


def test_pdftoppm_renders_every_page(demo: Demo, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(demo.folder / "custody/report.pdf"), str(tmp_path / "page")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    assert len(list(tmp_path.glob("page-*.png"))) == _pages(demo.folder / "custody/report.pdf")


def test_letter_paper_is_letter(demo: Demo) -> None:
    out = demo.root / "letter.pdf"
    _run(demo.env, "report", "EV-000001", "--out", out, "--purpose", "counsel review", "--paper", "Letter")
    info = subprocess.run(["pdfinfo", str(out)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"^Page size:.*\(letter\)$", info, re.M), info


def test_pdf_of_a_very_large_case_keeps_the_index_and_points_to_the_html(
    cli: Cli, small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custody.report import render

    monkeypatch.setattr(render, "PDF_DETAIL_LIMIT", 2)
    out = tmp_path / "b.zip"
    cli.ok("export", "--case", "UA-7", "--out", out, "--purpose", "court", "--exhibit-prefix", "X-", actor="bob")
    entries = members(out)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(next(v for k, v in entries.items() if k.endswith("custody/report.pdf")))
    text = " ".join(_pdftotext(pdf).split())
    assert all(f"EV-00000{n}" in text and f"X-00{n}" in text for n in (1, 2, 3))
    assert "Custody timeline" not in text and "custody/report.html" in text
    html = next(v for k, v in entries.items() if k.endswith("custody/report.html")).decode()
    assert html.count("<h3>Custody timeline</h3>") == 3


# The HTML: the same content, valid, no Python reprs


def test_html_parses_as_strict_html5(demo: Demo) -> None:
    html5lib.HTMLParser(strict=True).parse(demo.text("custody/report.html"))


def test_no_python_repr_in_html_or_pdf(demo: Demo) -> None:
    for text in (demo.text("custody/report.html"), _pdftotext(demo.folder / "custody/report.pdf")):
        assert "{'" not in text and "['" not in text and "None" not in text


def test_times_have_seconds_not_microseconds_in_utc_and_the_configured_zone(demo: Demo) -> None:
    text = demo.text("custody/report.html")
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", text)
    export = next(e for e in demo.events if e["action"] == "export")
    day_time = str(export["time"])[:19].replace("T", " ")
    assert f"{day_time} UTC" in text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d EE[S]?T \(UTC\+0[23]:00\)", text)


def test_metadata_is_written_for_people(demo: Demo) -> None:
    text = _pdftotext(demo.folder / "custody/report.pdf")
    assert "47.838800° N, 35.139600° E" in text  # the strike photo
    assert "33.868800° S, 151.209300° E" in text  # the video: southern and eastern hemispheres
    assert "Samsung SM-A525F" in text
    # The capture time names the tag it came from (custody/metadata/capture.py precedence).
    capture = "2026-02-28 14:03:11 (UTC+02:00); offset from ExifIFD:OffsetTimeOriginal - from ExifIFD:DateTimeOriginal"
    assert capture in " ".join(text.split())
    assert "QuickTime:CreateDate" in text  # the video's container time, the only time it states
    assert "ExifTool 12" in text  # which tool read the values


def test_annotations_show_author_tags_and_the_correction(demo: Demo) -> None:
    html = demo.text("custody/report.html")
    section = html[html.index('id="item-EV-000003"') :]
    assert "Remnant of a 9N210 sub-munition (fins visible)" in section
    assert re.search(r"<tr class=\"superseded\"><td>\d+</td>.*?Remnant of a sub-munition</td>", section, re.S)
    assert "carol" in section and "munition" in section and "corrected by a later annotation" in section


def test_timeline_shows_every_event_of_the_item_including_the_export(demo: Demo) -> None:
    html = demo.text("custody/report.html")
    section = html[html.index('id="item-EV-000001"') : html.index('id="item-EV-000002"')]
    timeline = section[section.index("Custody timeline") :]
    for action in ("Ingested", "Copy taken out", "Exported"):
        assert f"<td>{action}</td>" in timeline, action
    assert "exhibit preparation" in timeline and "dave" in timeline


def test_flags_are_in_plain_words(demo: Demo) -> None:
    html = demo.text("custody/report.html")
    assert "File time far from capture time" in html
    assert "fs_time_far" not in html


def test_keyframe_strip_of_the_video_and_thumbnails_of_the_photos(demo: Demo) -> None:
    from PIL import Image

    by_name = {r["record"]["original_name"]: r["record"]["item_id"] for r in demo.records}  # type: ignore[index]
    video = demo.folder / f"custody/thumbnails/{by_name['strike_video.mov']}.jpg"
    with Image.open(video) as strip:
        assert strip.width > 3 * strip.height  # several frames side by side
    photo = demo.folder / f"custody/thumbnails/{by_name['IMG_20260228_140311.jpg']}.jpg"
    with Image.open(photo) as thumb:
        assert max(thumb.size) <= 320
    assert not (demo.folder / f"custody/thumbnails/{by_name['witness_transcript.txt']}.jpg").exists()
    assert "Frames at" in demo.text("custody/report.html")


# Sealed like every other tag file


def test_tag_manifest_lists_the_report_and_every_thumbnail(demo: Demo) -> None:
    listed = {line.split(maxsplit=1)[1] for line in demo.text("tagmanifest-sha256.txt").splitlines()}
    thumbs = {str(p.relative_to(demo.folder)) for p in (demo.folder / "custody/thumbnails").iterdir()}
    assert len(thumbs) == 4
    assert {"custody/report.pdf", "custody/report.html", "custody/case-uco.jsonld"} | thumbs <= listed


def test_a_replaced_thumbnail_is_caught_by_verify_bundle(cli: Cli, demo: Demo, tmp_path: Path) -> None:
    def swap(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = next(n for n in entries if "/custody/thumbnails/" in n)
        return {**entries, name: entries[name][:-10] + b"\x00" * 10}

    result = cli("verify-bundle", rewrite(demo.bundle, tmp_path / "t.zip", swap), "--json")
    failed = [c for c in result.json()["checks"] if not c["ok"]]
    assert result.code == 1 and any(c["subject"].startswith("custody/thumbnails/") for c in failed)


def test_an_edited_report_pdf_is_caught_by_verify_bundle(cli: Cli, demo: Demo, tmp_path: Path) -> None:
    def edit(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = next(n for n in entries if n.endswith("/custody/report.pdf"))
        data = bytearray(entries[name])
        data[len(data) // 2] ^= 0x01
        return {**entries, name: bytes(data)}

    result = cli("verify-bundle", rewrite(demo.bundle, tmp_path / "t.zip", edit), "--json")
    failed = [c for c in result.json()["checks"] if not c["ok"]]
    assert result.code == 1 and ("tag-file", "custody/report.pdf") in {(c["check"], c["subject"]) for c in failed}


def test_the_untouched_bundle_verifies(cli: Cli, demo: Demo) -> None:
    result = cli("verify-bundle", demo.bundle, "--json")
    assert result.code == 0, [c for c in result.json()["checks"] if not c["ok"]]


# Exhibit numbers are signed in the export event


def test_exhibit_numbers_are_in_the_signed_export_event(demo: Demo) -> None:
    export = next(e for e in demo.events if e["action"] == "export")
    payload = export["payload"]
    assert isinstance(payload, dict)
    assert payload["exhibits"] == {item: f"{PREFIX}{n:03d}" for n, item in enumerate(demo.items, 1)}


@pytest.fixture
def small(cli: Cli, team: Path, evidence: Path) -> Path:
    cli.ok("ingest", "-r", evidence, "--case", "UA-7", actor="bob")
    return team


def test_exhibits_csv_maps_items_to_erns(cli: Cli, small: Path, tmp_path: Path) -> None:
    (tmp_path / "erns.csv").write_text("item,exhibit\nEV-000002,ERN 0123-4567\nEV-000001,ERN 0123-4568\n")
    out = tmp_path / "b.zip"
    cli.ok(
        "export", "EV-000001", "EV-000002", "--out", out, "--purpose", "court", "--exhibits", tmp_path / "erns.csv",
        actor="bob",
    )  # fmt: skip
    export = [e for e in cli.ok("log", "--json").json() if e["action"] == "export"][-1]
    assert export["payload"]["exhibits"] == {"EV-000001": "ERN 0123-4568", "EV-000002": "ERN 0123-4567"}
    report = next(v for k, v in members(out).items() if k.endswith("custody/report.html")).decode()
    assert "Exhibit ERN 0123-4567 - EV-000002" in report


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("item,exhibit\nEV-000009,X1\n", "EV-000009 not among the items"),
        ("item,exhibit\nEV-000001,X1\nEV-000002,X1\n", "exhibit number X1 would be given to both"),
        ("id;number\nEV-000001;X1\n", "must name the columns"),
        ("item,exhibit\nEV-000001,<script>\n", "must be 1-64 letters"),
    ],
)
def test_bad_exhibit_csv_is_refused_before_anything_is_logged(
    cli: Cli, small: Path, tmp_path: Path, csv_text: str, message: str
) -> None:
    (tmp_path / "erns.csv").write_text(csv_text)
    before = len(cli.ok("log", "--json").json())
    result = cli(
        "export", "EV-000001", "EV-000002", "--out", tmp_path / "b.zip", "--purpose", "court",
        "--exhibits", tmp_path / "erns.csv", actor="bob",
    )  # fmt: skip
    assert result.code == 2 and message in result.err and "erns.csv" in result.err + message
    assert len(cli.ok("log", "--json").json()) == before and not (tmp_path / "b.zip").exists()


# Hostile content cannot break or steer the report


def test_hostile_names_and_metadata_are_escaped_and_fetch_nothing(cli: Cli, team: Path, tmp_path: Path) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    name = "<b onmouseover=alert(1)>{'a': 1}.jpg"
    (folder / name).write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    note = "</td></tr></table><script>alert(1)</script><img src='http://127.0.0.1:9/x'>"
    cli.ok("ingest", folder / name, "--note", note, actor="bob")
    out = tmp_path / "r.html"
    cli.ok("report", "EV-000001", "--out", out, "--purpose", "review", actor="bob")
    html = out.read_text()
    html5lib.HTMLParser(strict=True).parse(html)
    assert "<script>" not in html and "<img src='http" not in html and "<b onmouseover" not in html
    assert "&lt;b onmouseover=alert(1)&gt;" in html and "&lt;script&gt;" in html
    pdf = tmp_path / "r.pdf"
    cli.ok("report", "EV-000001", "--out", pdf, "--purpose", "review", actor="bob")
    assert "EV-000001" in _pdftotext(pdf)


def test_rendering_a_pdf_leaves_truncated_photos_detectable_in_the_same_process(
    cli: Cli, small: Path, tmp_path: Path
) -> None:
    from tests.support.media import make_picture

    cli.ok("report", "EV-000001", "--out", tmp_path / "r.pdf", "--purpose", "review")
    whole = make_picture(tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    record = cli.ok("ingest", tmp_path / "cut.jpg", "--json", actor="bob").json()[0]
    shown = cli.ok("show", record["item_id"], "--json").json()["record"]
    assert "corrupt" in [f["code"] for f in shown["flags"]]


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims huge dimensions and whose data is almost nothing: a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b""
    )


def test_a_decompression_bomb_gets_no_thumbnail() -> None:
    from custody.report.media import thumbnail

    assert thumbnail(io.BytesIO(_png_claiming(60_000, 60_000))) is None
    assert thumbnail(io.BytesIO(_png_claiming(12_000, 12_000))) is None  # under Pillow's limit, over ours


# On demand: custody report / custody case-uco, logged


def test_report_command_logs_a_report_event_naming_the_items(cli: Cli, small: Path, tmp_path: Path) -> None:
    out = tmp_path / "case.pdf"
    result = cli.ok("report", "--case", "UA-7", "--out", out, "--purpose", "counsel review", "--json", actor="dave")
    data = result.json()
    event = cli.ok("log", "--json").json()[-1]
    validate("event", event)
    assert event["action"] == "report" and event["seq"] == data["event_seq"]
    assert event["payload"]["items"] == ["EV-000001", "EV-000002", "EV-000003"]
    assert event["payload"]["format"] == "pdf" and event["payload"]["purpose"] == "counsel review"
    import hashlib

    assert event["payload"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_report_needs_a_purpose_and_a_known_format(cli: Cli, small: Path, tmp_path: Path) -> None:
    before = len(cli.ok("log", "--json").json())
    no_purpose = cli("report", "EV-000001", "--out", tmp_path / "r.pdf")
    bad_format = cli("report", "EV-000001", "--out", tmp_path / "r.docx", "--purpose", "p")
    assert no_purpose.code == 2 and "--purpose" in no_purpose.err
    assert bad_format.code == 2 and "r.docx" in bad_format.err
    assert len(cli.ok("log", "--json").json()) == before
    assert list(tmp_path.glob("r.*")) == []


def test_report_of_an_item_shows_its_earlier_disclosures(cli: Cli, small: Path, tmp_path: Path) -> None:
    cli.ok("export", "EV-000002", "--out", tmp_path / "first.zip", "--purpose", "first disclosure", actor="bob")
    out = tmp_path / "r.html"
    cli.ok("report", "EV-000002", "--out", out, "--purpose", "review")
    html = out.read_text()
    assert "first disclosure" in html and "<td>Exported</td>" in html


def test_unknown_timezone_is_refused(cli: Cli, archive: Path) -> None:
    result = cli("config", "set", "timezone", "Mars/Olympus_Mons")
    assert result.code == 2 and "IANA" in result.err


# CASE/UCO, checked by the CASE project's own validator


def _case_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASE_VALIDATE, str(path)], capture_output=True, text=True, timeout=300)


def test_case_validate_accepts_the_bundle_case_uco(demo: Demo) -> None:
    proc = _case_validate(demo.folder / "custody/case-uco.jsonld")
    assert proc.returncode == 0 and "Conforms: True" in proc.stdout, proc.stdout + proc.stderr


def test_case_uco_describes_items_hashes_exhibits_and_every_event(demo: Demo) -> None:
    graph = json.loads(demo.text("custody/case-uco.jsonld"))["@graph"]
    by_type: dict[str, list[dict[str, object]]] = {}
    for node in graph:
        by_type.setdefault(str(node["@type"]), []).append(node)
    hashes = json.dumps(by_type["observable:File"])
    for entry in demo.records:
        assert str(entry["record"]["sha256"]) in hashes  # type: ignore[index]
    numbers = {n.get("case-investigation:exhibitNumber") for n in by_type["case-investigation:ProvenanceRecord"]}
    assert numbers == {f"{PREFIX}{n:03d}" for n in range(1, len(demo.items) + 1)}
    actions = by_type["case-investigation:InvestigativeAction"]
    described = [e for e in demo.events if e["item"] or e["action"] in {"export", "actor.add", "archive.init"}]
    assert sorted(int(str(a["core:description"]).split()[3]) for a in actions) == [e["seq"] for e in described]
    assert all("action:performer" in a and "action:startTime" in a for a in actions)
    assert '"observable:EXIFFacet"' in json.dumps(graph)
    assert "{'" not in json.dumps(graph)


def test_case_uco_command_for_items_validates(cli: Cli, small: Path, tmp_path: Path) -> None:
    out = tmp_path / "items.jsonld"
    cli.ok("case-uco", "--case", "UA-7", "--out", out, "--purpose", "exchange with the lab", "--exhibit-prefix", "L-")
    assert cli.ok("log", "--json").json()[-1]["payload"]["format"] == "case-uco"
    proc = _case_validate(out)
    assert proc.returncode == 0 and "Conforms: True" in proc.stdout, proc.stdout + proc.stderr


# Time-stamped PDF


@pytest.fixture
def tsa_archive(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    from tests.support.tsa_server import TsaServer, make_pki

    pki = make_pki(tmp_path / "pki", "Report")
    server = TsaServer(pki)
    server.start()
    root_dir = tmp_path / "archive"
    cli.ok(
        "init", root_dir, "--admin", "alice", "--tsa-url", server.url, "--tsa-ca", pki.root_pem,
        new_passphrase=PASSPHRASES["alice"],
    )  # fmt: skip
    monkeypatch.setenv("CUSTODY_ARCHIVE", str(root_dir))
    try:
        yield root_dir, pki.root_pem
    finally:
        server.stop()


def _validate_document_timestamp(pdf: bytes, root_pem: Path) -> object:
    from asn1crypto import pem, x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_timestamp
    from pyhanko_certvalidator import ValidationContext

    _, _, der = pem.unarmor(root_pem.read_bytes())
    context = ValidationContext(trust_roots=[x509.Certificate.load(der)], allow_fetching=False)
    reader = PdfFileReader(io.BytesIO(pdf))
    (signature,) = reader.embedded_signatures
    assert signature.sig_object["/Type"] == "/DocTimeStamp"
    return validate_pdf_timestamp(signature, validation_context=context)


def test_pdf_in_the_bundle_carries_a_document_timestamp_that_validates(
    cli: Cli, tsa_archive: tuple[Path, Path], evidence: Path, tmp_path: Path
) -> None:
    _, root_pem = tsa_archive
    cli.ok("ingest", evidence / "transcript.txt")
    out = tmp_path / "b.zip"
    cli.ok("export", "EV-000001", "--out", out, "--purpose", "court")
    pdf = next(v for k, v in members(out).items() if k.endswith("custody/report.pdf"))
    status = _validate_document_timestamp(pdf, root_pem)
    assert status.valid and status.intact and status.trusted  # type: ignore[attr-defined]
    text = _text_of(pdf, tmp_path)
    assert "Trusted time (RFC 3161)" in text and re.search(r"attested by the\s+time-stamp authority", text)


def test_document_timestamp_does_not_validate_against_another_root(
    cli: Cli, tsa_archive: tuple[Path, Path], evidence: Path, tmp_path: Path
) -> None:
    from tests.support.tsa_server import make_pki

    cli.ok("ingest", evidence / "transcript.txt")
    out = tmp_path / "r.pdf"
    cli.ok("report", "EV-000001", "--out", out, "--purpose", "court")
    status = _validate_document_timestamp(out.read_bytes(), make_pki(tmp_path / "rogue", "Rogue").root_pem)
    assert status.intact and not status.trusted  # type: ignore[attr-defined]


def test_a_changed_byte_breaks_the_document_timestamp(
    cli: Cli, tsa_archive: tuple[Path, Path], evidence: Path, tmp_path: Path
) -> None:
    _, root_pem = tsa_archive
    cli.ok("ingest", evidence / "transcript.txt")
    out = tmp_path / "r.pdf"
    cli.ok("report", "EV-000001", "--out", out, "--purpose", "court")
    data = out.read_bytes()
    at = data.index(b"EV-000001") if b"EV-000001" in data else len(data) // 3
    forged = data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]
    status = _validate_document_timestamp(forged, root_pem)
    assert not status.intact  # type: ignore[attr-defined]


def _text_of(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "extracted.pdf"
    path.write_bytes(pdf)
    return _pdftotext(path)


# The same formatting serves the command line


def test_show_and_log_name_people_and_print_readable_times_and_sizes(cli: Cli, team: Path, tmp_path: Path) -> None:
    from custody.samples import write_samples

    write_samples(tmp_path / "in")
    cli.ok("ingest", tmp_path / "in" / "IMG_20260228_140311.jpg", "--case", "UA-9", actor="bob")
    cli.ok("annotate", "EV-000001", "crater", "--tag", "site", actor="carol")
    key_ids = [a["key_id"] for a in cli.ok("actor", "list", "--json").json()]
    shown = cli.ok("show", "EV-000001", actor="dave").out
    logged = cli.ok("log", actor="dave").out
    for text in (shown, logged):
        assert "{'" not in text and "['" not in text
        assert not re.search(r"\d\d:\d\d:\d\d\.\d{6}", text)
        flat = re.sub(r"[^0-9a-f]", "", text)  # a key id wrapped over lines is still a bare key id
        assert not any(key_id in flat for key_id in key_ids)
    assert "bob (key" in shown and "bytes (" in shown and "47.838800° N" in shown
    assert "Samsung SM-A525F" in shown
    assert re.search(r"\bcarol\b", logged) and "Annotated" in logged and "UTC" in logged


def test_verify_names_the_people_behind_key_ids(cli: Cli, team: Path, evidence: Path) -> None:
    from custody.humanize import readable

    bob = next(a for a in cli.ok("actor", "list", "--json").json() if a["name"] == "bob")
    assert readable(f"event 4 signed by {bob['key_id']}", {bob["key_id"]: "bob"}) == (
        f"event 4 signed by bob (key {bob['key_id'][:12]}…)"
    )
    assert readable("at 2026-02-28T12:03:11.123456Z", {}) == "at 2026-02-28 12:03:11 UTC"



def test_the_archive_verifies_after_reports_were_logged(cli: Cli, small: Path, tmp_path: Path) -> None:
    cli.ok("report", "EV-000001", "--out", tmp_path / "r.html", "--purpose", "review", actor="carol")
    cli.ok("case-uco", "EV-000002", "--out", tmp_path / "c.jsonld", "--purpose", "lab", actor="dave")
    result = cli("verify", "--all", "--json", actor="dave")
    assert result.code == 0, [c for c in result.json()["checks"] if not c["ok"]]


def test_bundle_report_shows_earlier_disclosures_of_its_items(cli: Cli, small: Path, tmp_path: Path) -> None:
    cli.ok("export", "EV-000002", "--out", tmp_path / "first.zip", "--purpose", "first disclosure", actor="bob")
    out = tmp_path / "second.zip"
    cli.ok("export", "EV-000002", "--out", out, "--purpose", "second disclosure", actor="bob")
    html = next(v for k, v in members(out).items() if k.endswith("custody/report.html")).decode()
    timeline = html[html.index("<h3>Custody timeline</h3>") :]
    assert "first disclosure" in timeline and "second disclosure" in timeline
