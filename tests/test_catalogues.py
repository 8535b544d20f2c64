"""One label catalogue per language: every key in each, and every label a page or the phone app asks for exists."""

import re
from pathlib import Path

import yaml

from web.templating import LANGUAGES, TEMPLATES, TRANSLATIONS, labels

ROOT = Path(__file__).resolve().parents[1]


def test_every_language_has_every_key() -> None:
    keys = {lang: set(labels(lang)) for lang in LANGUAGES}
    for lang in LANGUAGES:
        assert keys[lang] == keys["zh"], (
            f"{lang}: missing {sorted(keys['zh'] - keys[lang])}, extra {sorted(keys[lang] - keys['zh'])}"
        )


def test_no_label_is_empty_or_written_twice() -> None:
    for lang in LANGUAGES:
        text = (TRANSLATIONS / f"{lang}.yaml").read_text(encoding="utf-8")
        keys = re.findall(r"^([a-z0-9_]+):", text, re.MULTILINE)
        assert len(keys) == len(set(keys)), f"{lang}: {sorted(k for k in keys if keys.count(k) > 1)}"
        assert all(str(v).strip() for v in yaml.safe_load(text).values())


def test_every_label_a_template_names_is_in_the_catalogue() -> None:
    named = set()
    for template in TEMPLATES.rglob("*.html"):
        source = template.read_text(encoding="utf-8")
        named |= set(re.findall(r"labels\.([a-z0-9_]+)\b(?!\()", source))  # not labels.get(…)
        named |= set(re.findall(r"labels\[['\"]([a-z0-9_]+)['\"]\]", source))
    app = (ROOT / "web/static/app/app.js").read_text(encoding="utf-8")
    shell = (TEMPLATES / "app/index.html").read_text(encoding="utf-8")
    asked = set(re.findall(r"\bt\(\"([a-z0-9_]+)\"", app)) | set(re.findall(r'data-i18n[a-z-]*="([a-z0-9_]+)"', shell))
    assert named and asked
    assert sorted(named - set(labels("zh"))) == []
    assert sorted(f"app_{key}" for key in asked if f"app_{key}" not in labels("zh")) == []
