"""The documentation builds with warnings as errors, and its generated parts match the code.

Needs the ``docs`` extra (Sphinx, furo, myst-parser); skipped without Sphinx.
"""

from __future__ import annotations

import html
import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chainer_slack_report.rendering.message import BUILTIN_PLACEHOLDERS
from chainer_slack_report.transport import slack_errors

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

PAGES = ["index", "quickstart", "loops", "layouts", "slack-app", "rate-limits", "sweeps",
         "endings",
         "distributed",
         "troubleshooting", "migrating", "benchmarks", "api/index", "api/chainer", "api/core",
         "api/rendering", "api/testing", "api/loops"]
#: Pages that exist only once their module does (see docs/conf.py).
OPTIONAL_PAGES = {"api/ppe": "chainer_slack_report.ppe", "api/cli": "chainer_slack_report.cli"}
BUILD_TIMEOUT = 600


class Build:
    def __init__(self, out: Path, done: subprocess.CompletedProcess, seconds: float) -> None:
        self.out = out
        self.done = done
        self.seconds = seconds

    def text(self, page: str) -> str:
        """The page's main text: tags stripped, entities decoded, blanks collapsed."""
        assert self.done.returncode == 0, "the documentation did not build (see test_build)"
        source = (self.out / f"{page}.html").read_text(encoding="utf-8")
        match = re.search(r"<article[^>]*>(.*)</article>", source, re.S)
        body = re.sub(r"<[^>]+>", " ", match.group(1) if match else source)
        body = html.unescape(body).replace("\u2019", "'").replace("\u00b6", "")
        return re.sub(r"\s+", " ", body)


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Build:
    out = tmp_path_factory.mktemp("docs_html")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
               "-d", str(out / ".doctrees"), str(DOCS), str(out)]
    start = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT)
    return Build(out, done, time.monotonic() - start)


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'"))


def test_build(build):
    assert build.done.returncode == 0, (
        f"sphinx -W failed with {build.done.returncode}:\n{build.done.stderr[-6000:]}")
    for page in PAGES:
        assert (build.out / f"{page}.html").is_file(), page
    for page, module in OPTIONAL_PAGES.items():
        exists = importlib.util.find_spec(module) is not None
        assert (build.out / f"{page}.html").is_file() == exists, (page, module)


def test_manifest():
    import yaml  # PyYAML comes with myst-parser (the docs extra)

    manifest = yaml.safe_load((DOCS / "manifest.yml").read_text(encoding="utf-8"))
    # The keys of Slack's app manifest (schema version 1).
    assert set(manifest) <= {"_metadata", "display_information", "features", "oauth_config",
                             "settings"}
    assert manifest["_metadata"]["major_version"] == 1
    info = manifest["display_information"]
    assert 0 < len(info["name"]) <= 35
    assert len(info.get("description", "")) <= 140
    bot = manifest["features"]["bot_user"]
    assert re.fullmatch(r"[a-z0-9._-]{1,80}", bot["display_name"])
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}  # a bot token only, no user scopes
    assert scopes["bot"] == ["chat:write", "files:write", "users:read"]
    settings = manifest["settings"]
    assert settings["token_rotation_enabled"] is False  # rotation: token_expired after 12 h
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False


def test_manifest_is_on_the_page(build):
    page = build.text("slack-app")
    assert "oauth_config" in page and "token_rotation_enabled" in page
    for scope in ("chat:write", "files:write", "users:read"):
        assert page.count(scope) >= 2, scope  # in the manifest and in the table of scopes
    assert f"/invite @{_bot_name()}" in page


def _bot_name() -> str:
    import yaml

    manifest = yaml.safe_load((DOCS / "manifest.yml").read_text(encoding="utf-8"))
    return manifest["features"]["bot_user"]["display_name"]


def test_every_error_code_is_on_the_troubleshooting_page(build):
    page = build.text("troubleshooting")
    codes = (set(slack_errors.CONFIG_ERRORS) | slack_errors.TRANSIENT_ERRORS
             | slack_errors.MESSAGE_GONE_ERRORS | {"ratelimited", "msg_too_long"})
    missing = sorted(code for code in codes if code not in page)
    assert not missing, f"codes missing from troubleshooting.html: {missing}"
    for code, fix in slack_errors.CONFIG_ERRORS.items():
        assert _normalize(fix) in page, (code, fix)


def test_fair_share_table_matches_the_readme(build):
    page = build.text("rate-limits")
    # README: "one run: an update every 1.5 s; 16 runs: every 24 s each"
    assert re.search(r"\b1 1\.5 s\b", page), "1 run: 1.5 s"
    assert re.search(r"\b16 24 s\b", page), "16 runs: 24 s"


def test_every_builtin_placeholder_is_described(build):
    page = build.text("api/rendering")
    missing = sorted(name for name in BUILTIN_PLACEHOLDERS if "{" + name + "}" not in page)
    assert not missing, f"placeholders missing from api/rendering.html: {missing}"


def test_pages_of_missing_modules_are_left_out():
    """While a module is missing, its page is excluded and its toctree line dropped."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import csr_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))

    class App:
        class config:  # stands in for Sphinx's config object
            csr_missing_pages = ["api/ppe", "api/cli"]
            exclude_patterns: list = []

    csr_docs._exclude_missing_pages(App, App.config)
    assert App.config.exclude_patterns == ["api/ppe.rst", "api/cli.rst"]
    source = [".. toctree::\n\n   chainer\n   ppe\n   cli\n   core\n"]
    csr_docs._drop_missing_toctree_lines(App, "api/index", source)
    assert source[0] == ".. toctree::\n\n   chainer\n   core\n"
    source = ["```{toctree}\nquickstart\napi/ppe\napi/index\n```\n"]
    csr_docs._drop_missing_toctree_lines(App, "index", source)
    assert source[0] == "```{toctree}\nquickstart\napi/index\n```\n"


def test_each_loop_has_its_page_and_api_entries(build):
    page = build.text("loops")
    for name in ("Run", "chainer_slack_report.lightning", "chainer_slack_report.transformers",
                 "on_exception", "stateful_callbacks", "restore_callback_states_from_checkpoint"):
        assert name in page, name
    api = build.text("api/loops")
    for signature in ("class chainer_slack_report. Run ( access_token = None",
                      "class chainer_slack_report.lightning. SlackReport ( access_token = None",
                      "class chainer_slack_report.transformers. SlackReport ( access_token = None",
                      "log ( observation , * , position = None )", "state_dict ( )"):
        assert signature in api, signature
    # every option of ReportOptions is an argument of each (flavour_signature)
    for option in ("finish_mentions", "layout", "lost_after", "total", "every"):
        assert f"{option} =" in api, option
