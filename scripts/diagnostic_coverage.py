#!/usr/bin/env python3
"""Which user-facing diagnostics of lib/ a test checks.

A diagnostic is an emitError / emitOpError / emitWarning call (and the
`fail(...)` helpers that wrap them) with a string literal; it counts as
tested when the longest plain-text piece of its literals (format
placeholders removed) appears in a test input: test/, python/tests/ or
unittests/.

    scripts/diagnostic_coverage.py [--list] [ROOT]
"""

import os
import re
import sys

CALL = re.compile(r"(?:emitOpError|emitError|emitWarning|emitRemark|"
                  r"\bfail)\s*\(")
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')


def diagnostics(path):
    """(line, message text) of each diagnostic call in a C++ file."""
    text = open(path).read()
    for call in CALL.finditer(text):
        # The call's argument list and the `<< "..."` chain after it, up to
        # the end of the statement.
        end = text.find(";", call.end())
        statement = text[call.end():end]
        literals = [m.group(1) for m in LITERAL.finditer(statement)]
        if not literals:
            continue
        line = text.count("\n", 0, call.start()) + 1
        yield line, literals


def key(literals):
    """The longest piece of the message's literals free of placeholders,
    escapes and quotes (text streamed between literals is not known)."""
    pieces = [p.strip(" :;,.()") for literal in literals
              for p in re.split(r"\{\d+\}|\\.|%[a-z]|'", literal)]
    return max(pieces, key=len) if pieces else ""


def corpus(root):
    texts = []
    for top in ("test", "python/tests", "unittests"):
        for folder, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if name.endswith((".mlir", ".test", ".py", ".cpp", ".c",
                                  ".json", ".txt")):
                    try:
                        with open(os.path.join(folder, name)) as f:
                            texts.append(f.read())
                    except UnicodeDecodeError:
                        pass
    return "\n".join(texts)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    tests = corpus(root)
    per_library = {}
    untested = []
    for folder, _, files in os.walk(os.path.join(root, "lib")):
        for name in sorted(files):
            if not name.endswith(".cpp"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            library = os.path.dirname(rel)
            for line, literals in diagnostics(path):
                message = "".join(literals)
                k = key(literals)
                if len(k) < 8:
                    continue  # too short to find reliably
                ok = k in tests
                tested, total = per_library.get(library, (0, 0))
                per_library[library] = (tested + ok, total + 1)
                if not ok:
                    untested.append(f"{rel}:{line}: {message}")
    tested = sum(t for t, _ in per_library.values())
    total = sum(n for _, n in per_library.values())
    for library in sorted(per_library):
        t, n = per_library[library]
        print(f"{library:32s} {t:3d} / {n:3d}")
    print(f"{'all':32s} {tested:3d} / {total:3d}")
    if "--list" in sys.argv:
        print("\nuntested:")
        print("\n".join(untested))
    return 0


if __name__ == "__main__":
    sys.exit(main())
