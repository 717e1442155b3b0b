"""`takeback users add|list|disable|enable|reset`: the people who may sign in, on the access topic (streams/people.py).

A password is read from the terminal without echo (asked twice), or as the first line of stdin when stdin is not a
terminal (scripts): never from an argument, which would land in the shell's history and in `ps`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable

from streams.domain.access import ROLES, BadPerson
from streams.people import AccessDirectory, change_person
from streams.settings import Settings

EXIT_FAILURE = 1


def add_users_parser(
    commands: argparse._SubParsersAction, broker_arg: Callable[[argparse.ArgumentParser], None]
) -> None:
    users = commands.add_parser("users", help="the people who may sign in to the pages, and their roles")
    actions = users.add_subparsers(dest="users_command", required=True)
    add = actions.add_parser("add", help="add a person (the password is asked for, or read from stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="viewer", help="viewer reads, biller acts, admin manages people")
    listing = actions.add_parser("list", help="one line per person: name, role, status")
    disable = actions.add_parser("disable", help="the person can no longer sign in; their sessions end")
    disable.add_argument("name")
    enable = actions.add_parser("enable", help="the person can sign in again")
    enable.add_argument("name")
    reset = actions.add_parser("reset", help="set a new password (asked for, or read from stdin); sessions end")
    reset.add_argument("name")
    for sub in (add, listing, disable, enable, reset):
        broker_arg(sub)


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise BadPerson("the two passwords differ")
    return first


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    try:
        password = read_password() if args.users_command in ("add", "reset") else ""
        print(asyncio.run(_run(args, settings, password)))
    except BadPerson as exc:
        print(f"takeback: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


async def _run(args: argparse.Namespace, settings: Settings, password: str) -> str:
    directory = AccessDirectory(settings)
    await directory.start(follow=False)
    try:
        if args.users_command == "list":
            lines = [
                f"{p.name}\t{p.role}\t{'disabled' if p.disabled else 'active'}"
                for p in sorted(directory.people.values(), key=lambda p: p.name)
            ]
            return (
                "\n".join(lines)
                if lines
                else "nobody yet (anyone on a loopback-only worker without a token may use it)"
            )
        return await change_person(
            directory, args.users_command, args.name, args.role if args.users_command == "add" else "", password
        )
    finally:
        await directory.stop()
