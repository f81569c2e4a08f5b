"""The tables an action appears in stay in sync (rules.md): roles, event schema, both bundle verifiers, words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from custody import humanize
from custody.bundle import guide
from custody.bundle.standalone import verify_bundle
from custody.roles import ACTION_PERMISSION, ANY_ACTOR, Action

ROOT = Path(__file__).resolve().parents[1]
SIGNED_BY_ROLE = [a for a, p in ACTION_PERMISSION.items() if p is not ANY_ACTOR]


def test_every_action_is_in_the_event_schema() -> None:
    schema = json.loads((ROOT / "schemas" / "event.schema.json").read_text())
    assert set(schema["properties"]["action"]["enum"]) == {a.value for a in Action}


@pytest.mark.parametrize("action", SIGNED_BY_ROLE, ids=str)
def test_the_standalone_verifier_and_verify_md_need_the_same_permission(action: Action) -> None:
    needed = str(ACTION_PERMISSION[action])
    assert verify_bundle.NEEDS[action.value] == needed
    guide_text = Path(guide.__file__).read_text()
    assert re.search(rf'"{re.escape(action.value)}": "{re.escape(needed)}"', guide_text), action


def test_every_action_has_words() -> None:
    assert {a.value for a in Action} <= set(humanize.ACTION_WORDS) | {
        "archive.init",
        "actor.add",
        "actor.revoke",
        "actor.rotate",
        "actor.role",
        "archive.upgrade",
    }
