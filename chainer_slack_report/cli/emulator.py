"""``emulator``: serve the bundled Slack Web API emulator for other processes to share,
and say how they reach it."""

from __future__ import annotations

import argparse
import json
import shlex

from ..transport.client import API_URL_ENV

__all__ = ["add_parser", "cmd_emulator"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``emulator`` to the tool's subcommands (``ArgumentParser.add_subparsers()``)."""
    from ..testing import emulator as emulator_module

    emulator = subparsers.add_parser(
        "emulator", help="serve a local Slack emulator for trying things out",
        description="Serve the bundled Slack Web API emulator on 127.0.0.1 until Ctrl-C "
                    "or SIGTERM, and print the SLACK_API_URL, token and channels that "
                    "other processes use to share it.")
    emulator_module.add_arguments(emulator)
    emulator.add_argument("--json", action="store_true",
                          help="print one JSON line instead (url, token, channels, "
                               "state_url, pid)")
    emulator.set_defaults(handler=cmd_emulator, subparser=emulator)
    return emulator


def cmd_emulator(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``emulator``: 0 once Ctrl-C or SIGTERM stops it; a port it cannot serve on is a
    usage error (2)."""
    from ..testing import emulator as emulator_module

    def announce(info: dict) -> None:
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            print(_banner(info), flush=True)

    try:
        return emulator_module.serve(args, announce=announce)
    except OSError as exc:  # e.g. the port is taken
        parser.error(f"cannot serve on port {args.port}: {exc.strerror or exc}")
    return 2


def _banner(info: dict) -> str:
    """Where the emulator is, and the ``export`` line for other shells."""
    channels = info["channels"]
    first = next(iter(channels.values()), "")
    exports = {API_URL_ENV: info["url"], "SLACK_BOT_TOKEN": info["token"]}
    if first:
        exports["SLACK_CHANNEL_ID"] = first
    return (f"Slack emulator on {info['url']} (pid {info['pid']}); Ctrl-C or SIGTERM "
            f"stops it\n"
            f"  token:    {info['token']}\n"
            f"  channels: {', '.join(f'#{n} = {i}' for n, i in channels.items())}\n"
            f"  view:     {info['view_url']}  (the channels in a browser)\n"
            f"  state:    {info['state_url']}\n"
            f"Other shells use it after:\n"
            f"export {' '.join(f'{k}={shlex.quote(v)}' for k, v in exports.items())}")
