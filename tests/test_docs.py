"""The documents agree with the code: rules cited by section exist, and docs/commands.md lists exactly the
codes and flags the code can emit.

Codes and flags are found by reading the source (string literals handed to the reject / dead-letter calls, or
added to a `flags` list), so a new code or flag fails here until docs/commands.md's tables explain it to a billing
person.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterable

from streams.samples import PROJECT_ROOT

RULES = PROJECT_ROOT / "docs" / "rules.md"
README = PROJECT_ROOT / "README.md"
COMMANDS = PROJECT_ROOT / "docs" / "commands.md"  # the dead-letter codes and flags, for a billing person
GUIDES = [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
SECTIONS = [
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "8a",
    "9",
    "10",
    "11",
    "12",
    "13",
]  # the same numbers as the rules' source
STAGES = {"ingest", "matching"}  # the stage argument of a dead letter, not a code
CODE = re.compile(r"[a-z][a-z0-9_]+")


def rules_sections() -> list[str]:
    return re.findall(r"^## §(\w+) ", RULES.read_text(), flags=re.MULTILINE)


def test_the_rules_keep_their_section_numbers_and_say_what_is_implemented() -> None:
    assert rules_sections() == SECTIONS
    for section in re.split(r"^## ", RULES.read_text(), flags=re.MULTILINE)[1:]:
        assert "**Status:**" in section, f"§{section.split()[0]} has no Status line"


def test_every_rules_citation_names_a_section_that_exists() -> None:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True)
    known = set(rules_sections())
    cited: dict[str, set[str]] = {}
    for name in filter(None, listing.stdout.decode().split("\0")):
        path = PROJECT_ROOT / name
        if path.suffix not in {".py", ".md", ".json", ".yml", ".yaml"} or not path.is_file():
            continue
        text = path.read_text(errors="replace").replace("\\u00a7", "§")
        # "rules §3", "rules §3/§5", "rules §2-§5, §8": every section named after the word rules
        for group in re.findall(r"[Rr]ules (§\d\w*(?:\s*(?:[-/,]|and)\s*§\d\w*)*)", text):
            for section in re.findall(r"§(\d\w*)", group):
                cited.setdefault(section, set()).add(name)
    assert cited, "nothing cites the rules"
    unknown = {section: sorted(files) for section, files in cited.items() if section not in known}
    assert unknown == {}, f"citations of sections docs/rules.md does not have: {unknown}"


def _strings(nodes: Iterable[ast.AST]) -> set[str]:
    texts = (n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return {text for text in texts if CODE.fullmatch(text)}


def _called(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def emitted_codes_and_flags() -> tuple[set[str], set[str]]:
    dead_letters: set[str] = set()
    flags: set[str] = set()
    for path in (PROJECT_ROOT / "streams").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = _called(node.func)
                if re.search(r"reject|dead_letter|FileError", called, flags=re.IGNORECASE):
                    dead_letters |= _strings(node.args[:2]) - STAGES
                elif "flag" in called.lower() or (called == "append" and "flags" in ast.unparse(node.func.value)):
                    flags |= _strings(node.args)
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "flags":
                        flags |= _strings(ast.walk(value))
            elif isinstance(node, ast.Assign) and any(
                "flags" in ast.unparse(t) or ast.unparse(t) == "FLAG" for t in node.targets
            ):  # `FLAG`: the one flag a rules module raises (streams/domain/deadlines/)
                flags |= _strings(ast.walk(node.value))
    return dead_letters, flags


def readme_table(heading: str) -> set[str]:
    """The backticked names in the first column of the table that follows the bold `heading`."""
    text = COMMANDS.read_text()
    after = text[text.index(f"**{heading}**") :]
    table = re.search(r"^\|.*?(?=^\s*$)", after, flags=re.MULTILINE | re.DOTALL)
    assert table, f"no table after {heading}"
    first_cells = [row.split("|")[1] for row in table.group(0).splitlines()[2:]]
    return {name for cell in first_cells for name in re.findall(r"`([a-z0-9_]+)`", cell)}


def test_the_finder_sees_the_known_codes_and_flags() -> None:
    dead_letters, flags = emitted_codes_and_flags()
    assert {"unbalanced_remittance", "negative_payment", "input_too_large", "internal_error"} <= dead_letters
    assert {"missing_amount", "claim_unbalanced", "reused_trace_number", "original_not_found"} <= flags
    assert "missing_amount" not in dead_letters  # a claim flag, not a rejection


def test_the_readme_lists_exactly_the_dead_letter_codes() -> None:
    dead_letters, _ = emitted_codes_and_flags()
    assert readme_table("Dead letters.") == dead_letters


def test_the_readme_lists_exactly_the_flags() -> None:
    _, flags = emitted_codes_and_flags()
    assert readme_table("Flags.") == flags


def test_docs_name_only_files_that_exist() -> None:
    for doc in (RULES, *GUIDES):
        for reference in re.findall(r"`((?:streams|schemas|tests|corpus|docs)/[\w./-]+)`", doc.read_text()):
            assert (PROJECT_ROOT / reference.rstrip("/")).exists(), f"{doc.name} names {reference}"
