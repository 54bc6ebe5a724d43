"""The rate budget in Redis: its URL, its clock, its heartbeats and its faults, with a real
redis-server (tests/redis_server.py), real processes as "hosts" and real SIGKILLs.

The budget's rules are tested against both stores in tests/test_budget.py; these are
what only the Redis store has.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import pytest
from conftest import needs, wait_until

from chainer_slack_report import ReportOptions, SlackReportWarning
from chainer_slack_report.transport.budget import (
    CHAT_UPDATE,
    STORE_ENV,
    Limit,
    SharedBudget,
    StoreURL,
    store_url,
)
from chainer_slack_report.transport.budget.redis_store import KEY_PREFIX, RETRY_AFTER

HERE = Path(__file__).resolve().parent
WORKER = HERE / "budget_worker.py"
API_URL = "https://slack.invalid/api/"
KEY = "chat.update"


@pytest.fixture
def token() -> str:
    return f"xoxb-{uuid.uuid4().hex}-SECRET"


def _ours(caught) -> list:
    return [str(w.message) for w in caught if issubclass(w.category, SlackReportWarning)]


# -- the URL ---------------------------------------------------------------------------

@pytest.mark.parametrize("url, where, db", [
    ("redis://cache.example", "cache.example:6379", 0),
    ("redis://10.0.0.5:6380/3", "10.0.0.5:6380", 3),
    ("rediss://:pw@cache.example:6380/1", "cache.example:6380", 1),
    ("REDIS://user:pw@h/2?socket_timeout=2", "h:6379", 2),
    ("unix:///run/redis/redis.sock?db=4", "/run/redis/redis.sock", 4),
])
def test_store_urls_redis_py_takes(url, where, db):
    parsed = StoreURL(url)
    assert (parsed.where, parsed.db) == (where, db)
    assert "pw" not in repr(parsed) and "pw" not in parsed.shown


@pytest.mark.parametrize("url, why", [
    ("http://:hunter2@cache:6379", "unknown scheme 'http'"),
    ("localhost:6379", "unknown scheme"),
    ("redis:/cache", "unknown scheme"),
    ("redis://:hunter2@", "no host"),
    ("redis://:hunter2@cache:port/0", "could not be cast to integer"),
    ("redis://:hunter2@cache/zero", "db 'zero' is not a number"),
    ("redis://:hunter2@cache/-1", "below 0"),
    ("redis://:hunter2@cache?bogus=1", "unknown query parameter bogus"),
    ("unix://:hunter2@", "no socket path"),
])
def test_a_malformed_store_is_a_value_error_naming_it_without_the_password(
        url, why, monkeypatch):
    with pytest.raises(ValueError, match=why) as caught:
        ReportOptions(store=url)
    message = str(caught.value)
    assert message.startswith("store=") and "hunter2" not in message
    assert "redis://[:password@]host[:port][/db]" in message  # what is accepted
    monkeypatch.setenv(STORE_ENV, url)
    with pytest.raises(ValueError, match=why) as caught:
        ReportOptions()
    message = str(caught.value)
    assert message.startswith(f"${STORE_ENV}=") and "hunter2" not in message
    with pytest.raises(ValueError):
        SharedBudget("xoxb-1", API_URL)


def test_store_option_over_the_variable_and_kept_out_of_repr(monkeypatch, tmp_path):
    monkeypatch.setenv(STORE_ENV, "redis://:from-env@cache:6379/0")
    assert store_url(None).url.endswith("from-env@cache:6379/0")
    assert store_url("redis://:given@other:6379/1").where == "other:6379"
    options = ReportOptions(store="redis://:given@other:6379/1")
    assert "given" not in repr(options) and "from-env" not in repr(options)
    budget = SharedBudget("xoxb-1", API_URL, state_dir=str(tmp_path))  # nothing sent yet
    assert budget.store.where == "cache:6379"
    assert "from-env" not in repr(budget) and "***" in repr(budget)
    monkeypatch.setenv(STORE_ENV, "  ")
    assert store_url(None) is None
    with pytest.raises(TypeError, match="store must be a Redis URL"):
        ReportOptions(store=6379)


# -- one clock, heartbeats --------------------------------------------------------------

def test_the_servers_time_is_the_clock(redis_server, tmp_path, token):
    """A process whose own clock is an hour ahead (frozen there) takes its slots at the
    server's time: every host reads one clock."""
    freezegun = pytest.importorskip("freezegun")
    client = redis_server.client()
    before = float("{}.{:06d}".format(*client.time()))
    budget = SharedBudget(token, API_URL, state_dir=str(tmp_path), store=redis_server.url)
    ahead = datetime.datetime.fromtimestamp(before + 3600.0, tz=datetime.timezone.utc)
    with freezegun.freeze_time(ahead):
        assert abs(time.time() - (before + 3600.0)) < 1.0
        assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="r") == 0.0
    after = float("{}.{:06d}".format(*client.time()))
    state = json.loads(client.get(KEY_PREFIX + budget.name))
    grant, = state["buckets"][KEY]["grants"]
    assert before <= grant <= after
    assert before <= state["runs"]["r"]["seen"] <= after


def _spawn(mode: str, cfg: dict, token: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, BUDGET_TEST_TOKEN=token)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent),
                                                      env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, str(WORKER), mode, json.dumps(cfg)], env=env,
                            **kwargs)


def test_a_killed_runs_heartbeat_expires_on_every_host(redis_server, tmp_path, token):
    """In Redis a run counts by its heartbeat, not its PID (a PID means nothing on another
    host): a run SIGKILLed on this very host counts until ``horizon`` has passed."""
    horizon = 1.0
    budget = SharedBudget(token, API_URL, state_dir=str(tmp_path / "here"),
                          store=redis_server.url, horizon=horizon)
    budget.join("alive")
    doomed = _spawn("join", {"state_dir": str(tmp_path / "there"), "store": redis_server.url,
                             "run_id": "doomed", "horizon": horizon}, token,
                    stdout=subprocess.PIPE)
    try:
        assert doomed.stdout.readline().strip() == b"joined"
        killed_at = time.monotonic()
        doomed.kill()
        doomed.wait(timeout=30)
        assert doomed.returncode < 0
        seen = budget.active_runs()
        if time.monotonic() - killed_at < horizon * 0.9:  # asked within the horizon
            assert seen == 2
    finally:
        doomed.stdout.close()
    def only_the_living() -> bool:
        budget.join("alive")  # the heartbeat of the one still running
        return budget.active_runs() == 1
    assert wait_until(only_the_living, timeout=30, interval=0.1)
    assert time.monotonic() - killed_at >= horizon * 0.9
    assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="alive") == 0.0
    runs = json.loads(redis_server.client().get(KEY_PREFIX + budget.name))["runs"]
    assert list(runs) == ["alive"]


# -- faults -----------------------------------------------------------------------------

def test_redis_down_at_start_one_warning_and_the_hosts_state_file(tmp_path, token, caplog):
    from redis_server import free_port

    port = free_port()  # nothing listens there
    url = f"redis://:hunter2@127.0.0.1:{port}/0"
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = SharedBudget(token, API_URL, state_dir=str(tmp_path), store=url)
        b = SharedBudget(token, API_URL, state_dir=str(tmp_path), store=url)
        limit = Limit(1, 60.0)
        assert a.try_acquire(KEY, limit, run_id="ra", priority=True) == 0.0
        assert a.path is not None and Path(a.path).parent == tmp_path
        # the host's runs still share one budget, through its state file
        assert 0.0 < b.try_acquire(KEY, limit, run_id="rb", priority=True) <= 60.0
        for _ in range(5):
            a.try_acquire(KEY, limit, run_id="ra")
    ours = _ours(caught)
    assert len(ours) == 2, ours  # one per budget (each is one run's), none per call
    assert f"127.0.0.1:{port}" in ours[0] and "not reachable" in ours[0]
    output = " ".join(ours) + caplog.text + repr(a) + repr(b)
    assert "hunter2" not in output and token not in output


def test_redis_killed_mid_run_then_back(redis_server, tmp_path, token, caplog):
    """SIGKILLed: one warning, the host's state file meanwhile; started again: the
    budget is kept in Redis again once RETRY_AFTER has passed."""
    caplog.set_level(logging.DEBUG)
    client = redis_server.client()
    budget = SharedBudget(token, API_URL, state_dir=str(tmp_path), store=redis_server.url)
    key = KEY_PREFIX + budget.name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="r", priority=True) == 0.0
        assert client.exists(key) and budget.path is None
        redis_server.kill()
        lost_at = time.monotonic()
        for _ in range(3):
            assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="r", priority=True) == 0.0
        assert budget.path is not None  # the host's state file holds the budget now
        assert len(json.loads(Path(budget.path).read_text())["buckets"][KEY]["grants"]) == 3
        redis_server.start()
        assert not client.exists(key)  # a new server: nothing saved
        assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="r", priority=True) == 0.0
        if time.monotonic() - lost_at < RETRY_AFTER * 0.9:
            assert not client.exists(key)  # not asked again before RETRY_AFTER
        assert wait_until(lambda: budget.try_acquire(KEY, CHAT_UPDATE, run_id="r",
                                                     priority=True) == 0.0
                          and client.exists(key), timeout=RETRY_AFTER + 30, interval=0.2)
        assert budget.path is None
    ours = _ours(caught)
    assert len(ours) == 1, ours
    assert redis_server.where in ours[0] and "lost" in ours[0]
    assert "answers again" in caplog.text


def test_a_password_protected_redis(redis_server_with_password, tmp_path, token, caplog):
    server = redis_server_with_password
    caplog.set_level(logging.DEBUG)
    good = SharedBudget(token, API_URL, state_dir=str(tmp_path), store=server.url)
    assert good.try_acquire(KEY, CHAT_UPDATE, run_id="r") == 0.0
    assert server.client().exists(KEY_PREFIX + good.name)
    wrong = server.url.replace(server.password, "not-" + server.password[::-1])
    none = server.url.replace(f":{server.password}@", "")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for url in (wrong, none):
            budget = SharedBudget(token, API_URL, state_dir=str(tmp_path), store=url)
            assert budget.try_acquire(KEY, CHAT_UPDATE, run_id="r2", priority=True) == 0.0
            assert budget.path is not None  # refused: the host's state file
            assert server.where in repr(budget)
    ours = _ours(caught)
    assert len(ours) == 2, ours
    output = " ".join(ours) + caplog.text + repr(good) + str(good.store)
    for secret in (server.password, server.password[::-1], token):
        assert secret not in output


# -- real runs: processes as hosts ------------------------------------------------------

def test_runs_on_two_hosts_share_a_password_protected_redis_that_dies_and_comes_back(
        redis_server_with_password, slack_emulator, tmp_path):
    """Two real Chainer training processes on two "hosts" (state directories of their
    own) share one Redis that asks for a password.  It is SIGKILLed mid-run: each run
    warns once, goes on, and delivers its final state; it is started again: the runs
    keep their budget in it again.  The password is in no output and no message."""
    needs("chainer")
    server = redis_server_with_password
    client = server.client()
    killed, back = tmp_path / "killed", tmp_path / "back"
    procs, logs = [], []
    for i in range(2):
        env = dict(os.environ, SLACK_BOT_TOKEN=slack_emulator.token,
                   CHAINER_SLACK_REPORT_STATE_DIR=str(tmp_path / f"host{i}"))
        env[STORE_ENV] = server.url  # in the environment: never on a command line
        log = open(tmp_path / f"run{i}.err", "w+")
        logs.append(log)
        procs.append(subprocess.Popen(
            [sys.executable, str(HERE / "run_training.py"), slack_emulator.url, "general",
             f"host{i}-run", "--per-iteration", "--epochs", "6", "--sleep", "0.02",
             "--hold", "4", str(killed), "--hold", "12", str(back)],
            stdout=subprocess.PIPE, stderr=log, text=True, env=env))
    try:
        for proc in procs:
            assert proc.stdout.readline() == "READY\n"
            assert proc.stdout.readline() == "HOLDING 4\n"

        def runs_in_redis() -> int:
            keys = client.keys(KEY_PREFIX + "*")
            return len(json.loads(client.get(keys[0]))["runs"]) if keys else 0
        assert wait_until(lambda: runs_in_redis() == 2, timeout=60)
        server.kill()
        killed.touch()
        for proc in procs:  # rows 4 to 12 asked the budget without Redis
            assert proc.stdout.readline() == "HOLDING 12\n"
        assert wait_until(lambda: all(server.where in Path(log.name).read_text()
                                      for log in logs), timeout=60)
        server.start()
        time.sleep(RETRY_AFTER + 0.5)  # each run asks Redis again from now on
        back.touch()
        outs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [proc.returncode for proc in procs] == [0, 0]
    texts = {m.text for m in slack_emulator.messages("general")}
    for i in range(2):
        final, = [t for t in texts if f"host{i}-run" in t]
        assert final.startswith("[Completed]")
        assert outs[i].startswith("TS ")
        err = Path(logs[i].name).read_text()
        assert err.count(f"Redis at {server.where} is lost") == 1, err
        assert err.count("SlackReportWarning") == 1, err
    keys = client.keys(KEY_PREFIX + "*")  # the rows after "back" were granted in Redis
    assert len(keys) == 1 and json.loads(client.get(keys[0]))["buckets"][KEY]["grants"]
    every_output = "".join(outs) + "".join(Path(log.name).read_text() for log in logs)
    every_output += "".join(texts)
    assert server.password not in every_output
    for log in logs:
        log.close()


# -- the command-line tool --------------------------------------------------------------

def _cli(*args, env: dict) -> tuple:
    done = subprocess.run([sys.executable, "-m", "chainer_slack_report", *args], env=env,
                          capture_output=True, timeout=120)
    return done.returncode, (done.stdout + done.stderr).decode()


@pytest.fixture
def cli_env(slack_emulator, budget_state_dir):
    return dict(os.environ, SLACK_API_URL=slack_emulator.url,
                SLACK_BOT_TOKEN=slack_emulator.token, SLACK_CHANNEL_ID="general",
                CHAINER_SLACK_REPORT_STATE_DIR=str(budget_state_dir))


def test_check_says_which_store_and_whether_it_answers(redis_server_with_password, cli_env):
    server = redis_server_with_password
    code, output = _cli("check", env=cli_env)
    assert "OK    rate budget: shared by the runs of this host, in " in output
    cli_env[STORE_ENV] = server.url
    code, output = _cli("check", env=cli_env)
    assert code == 0, output
    assert f"OK    rate budget: shared in Redis at {server.where} (db 0)" in output
    server.kill()
    code, output = _cli("check", env=cli_env)
    assert code == 0, output  # the runs would go on, per host
    assert f"WARN  rate budget: Redis at {server.where} (db 0) does not answer" in output
    cli_env[STORE_ENV] = server.url.replace("redis://", "redis+tls://")
    code, output = _cli("check", env=cli_env)
    assert code == 1 and f"FAIL  rate budget: ${STORE_ENV}='redis+tls://***@" in output
    code, output = _cli("check", "--store", server.url, env=cli_env)
    assert code == 2 and f"put the URL in ${STORE_ENV} instead" in output
    assert server.password not in output


def test_run_with_redis_down_warns_once_and_reports(slack_emulator, cli_env):
    from redis_server import free_port

    where = f"127.0.0.1:{free_port()}"
    cli_env[STORE_ENV] = f"redis://:hunter2@{where}/0"
    code, output = _cli("run", "--", sys.executable, "-c", "print('trained')", env=cli_env)
    assert code == 0, output
    assert output.count(f"chainer-slack-report: warning: chainer_slack_report: the shared "
                        f"Slack rate budget's Redis at {where} is not reachable") == 1, output
    message, = slack_emulator.messages("general")
    assert message.text.startswith("[Completed]")
    assert "hunter2" not in output + message.text
