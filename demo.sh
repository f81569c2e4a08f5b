#!/usr/bin/env bash
# The main job, end to end on an embedded archive: sample evidence in, custody out, verified.
# Demo passphrases are set in the environment so it runs unattended; real users get a prompt.
set -euo pipefail

DEMO_DIR=${DEMO_DIR:-demo-archive}
rm -rf --one-file-system "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
export CUSTODY_ARCHIVE="$DEMO_DIR/archive"
export CUSTODY_PASSPHRASE="demo passphrase, never use it for real" CUSTODY_NEW_PASSPHRASE="demo passphrase, never use it for real"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "An admin creates the archive"
custody init "$CUSTODY_ARCHIVE" --admin amina
custody --as amina config set organization "Example Documentation Centre"
custody --as amina config set timezone Europe/Kyiv
custody --as amina actor add bohdan --role archivist
custody --as amina actor add chloe --role analyst
custody --as amina actor add david --role reviewer
custody actor list

step "Sample evidence: geotagged photos of a strike site and a witness transcript"
custody samples "$DEMO_DIR/incoming"

step "The archivist ingests it with provenance"
custody --as bohdan ingest --recursive "$DEMO_DIR/incoming" --case UA-2026-0228 \
    --collected-by "Field team 3" --collected-at 2026-03-01T09:30:00+02:00 \
    --method "handed over on a USB stick by witness W-17" --source-url "https://t.me/example/4417"

step "The same photo arrives again, forwarded over a messenger: a new acquisition, not a new item"
cp "$DEMO_DIR/incoming/IMG_20260228_140311.jpg" "$DEMO_DIR/forwarded.jpg"
custody --as bohdan ingest "$DEMO_DIR/forwarded.jpg" --method "forwarded by a journalist" --case UA-2026-0228

step "An analyst annotates, then corrects the annotation"
custody --as chloe annotate EV-000003 "Remnant consistent with a cluster sub-munition" --tag munition
first=$(custody --as chloe log EV-000003 --json | python3 -c 'import json,sys; print([e for e in json.load(sys.stdin) if e["action"]=="annotate"][-1]["seq"])')
custody --as chloe annotate EV-000003 "Remnant consistent with a 9N210 sub-munition (fins visible)" --tag munition --supersedes "$first"
custody --as chloe show EV-000003

step "A mistyped collection time is corrected: a signed correction; the signed record itself never changes"
custody --as bohdan correct EV-000002 --field collected_at --value 2026-02-28T19:30:00+02:00 \
    --reason "collection sheet: handed over the evening before"

step "Finding things: cases, and items by type, collector and capture date"
custody --as bohdan cases
custody --as chloe search --type image --collected-by "field team" --captured-from 2026-02-28

step "A lawyer takes a verified copy out, with a purpose"
custody --as david get EV-000001 --out "$DEMO_DIR/EV-000001.jpg" --purpose "exhibit preparation"

step "The custody log"
custody --as david log

step "A re-upload of the strike photo is found on a platform: resized, recompressed, EXIF stripped"
python3 -c 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); im.resize((im.width // 2, im.height // 2)).convert("RGB").save(sys.argv[2], quality=70)' \
    "$DEMO_DIR/incoming/IMG_20260228_140311.jpg" "$DEMO_DIR/channel_post_88.jpg"
custody --as bohdan ingest "$DEMO_DIR/channel_post_88.jpg" --case UA-2026-0228 --platform Telegram \
    --posted-at 2026-03-02T07:45:00+02:00 --uploader @example_channel --language uk \
    --source-url "https://t.me/example/4488" --collected-by "Field team 3" --method "saved from the public channel"
custody --as chloe show EV-000005
custody --as chloe similar EV-000005

step "The lawyer verifies everything"
custody --as david verify --all

step "The archive publishes a checkpoint; the log can be proven against it"
custody checkpoint --vkey > "$DEMO_DIR/archive.vkey"
custody --as david checkpoint --export "$DEMO_DIR/published-checkpoint.txt"
cat "$DEMO_DIR/published-checkpoint.txt"
custody --as david proof --event 8
custody --as david verify --event 8 --checkpoint "$DEMO_DIR/published-checkpoint.txt"

step "The case team exports a sealed bundle for the court"
custody --as bohdan export --case UA-2026-0228 --out "$DEMO_DIR/UA-2026-0228.zip" --purpose "disclosure to the prosecution" \
    --exhibit-prefix "UA-0228-EX-" --case-uco

step "The court verifies the bundle with no archive, against the checkpoint it was sent earlier"
(cd "$DEMO_DIR" && env -u CUSTODY_ARCHIVE custody verify-bundle UA-2026-0228.zip --against-checkpoint published-checkpoint.txt)

step "The court's expert checks it again without custody: the bundle's own stdlib-only verifier, with the archive key"
(cd "$DEMO_DIR" && python3 -c 'import sys, zipfile; z = zipfile.ZipFile("UA-2026-0228.zip"); sys.stdout.buffer.write(z.read(z.namelist()[0].split("/")[0] + "/custody/verify_bundle.py"))' > verify_bundle.py \
  && env -i PATH=/usr/bin:/bin python3 -I verify_bundle.py UA-2026-0228.zip --vkey archive.vkey | tail -n 1)

step "Disclosure to the defence: the archivists' folders and who handed the files over are withheld"
custody --as bohdan export --case UA-2026-0228 --out "$DEMO_DIR/defence.zip" --purpose "disclosure to the defence" \
  --withhold source_path,collected_by,collected_from
(cd "$DEMO_DIR" && env -u CUSTODY_ARCHIVE custody verify-bundle defence.zip --vkey archive.vkey | tail -n 1)
custody --as david reveal EV-000001 --field collected_by --out "$DEMO_DIR/EV-000001-collected_by.json" --purpose "order of the chamber"
(cd "$DEMO_DIR" && env -u CUSTODY_ARCHIVE custody check-reveal defence.zip EV-000001-collected_by.json --vkey archive.vkey | grep "Revealed value")

step "A partner organisation imports it: custody continues in their archive"
CUSTODY_ARCHIVE="$DEMO_DIR/partner" custody init "$DEMO_DIR/partner" --admin partner
CUSTODY_ARCHIVE="$DEMO_DIR/partner" custody --as partner import "$DEMO_DIR/UA-2026-0228.zip" --vkey "$DEMO_DIR/archive.vkey"
CUSTODY_ARCHIVE="$DEMO_DIR/partner" custody --as partner verify --all --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print("partner archive verifies:", r["ok"])'

step "Counsel's chain-of-custody report of the case, as PDF (the same report is sealed inside the bundle)"
custody --as david report --case UA-2026-0228 --out "$DEMO_DIR/UA-2026-0228-report.pdf" \
    --purpose "preparing the submission" --exhibit-prefix "UA-0228-EX-"
pdfinfo "$DEMO_DIR/UA-2026-0228-report.pdf" 2>/dev/null | grep -E '^(Title|Pages|Page size):' || true

step "Done: the demo archive is in $DEMO_DIR/archive; open the report with: xdg-open $DEMO_DIR/UA-2026-0228-report.pdf"
