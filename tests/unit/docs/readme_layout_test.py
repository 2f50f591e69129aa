#!/usr/bin/env python3
"""README.md's Layout section names every folder of the repository.

The folders are those holding files git tracks (test data and fuzz regression
inputs below a named folder excepted). The Layout block may name several
sibling folders at once as `prefix/{a,b,c}`. Without git (a tarball of the
sources) the test says so and passes: there is no file list to compare.
"""
import argparse
import os
import re
import subprocess
import sys

SKIP = ("tests/unit/cli/testdata", "tests/fuzz/regressions/")


def layout_names(readme):
    m = re.search(r"^## Layout\n(.*?)^## ", readme, flags=re.S | re.M)
    if not m:
        return None
    names = set()
    # A brace list may wrap onto the next line: join such lines first.
    lines, block = m.group(1).split("\n"), ""
    for line in lines:
        open_brace = block.count("{") > block.count("}")
        block += (line.strip() if open_brace else "\n" + line)
    for token in re.findall(r"[\w.][\w./{},-]*", block):
        token = token.rstrip(".,")
        b = re.match(r"^(.*)\{([^}]*)\}(.*)$", token)
        parts = [b.group(1) + x + b.group(3) for x in b.group(2).split(",")] if b else [token]
        names.update(p.rstrip("/") for p in parts)
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source_dir", required=True)
    args = ap.parse_args()
    try:
        files = subprocess.run(["git", "-C", args.source_dir, "ls-files"], check=True,
                               capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"no git file list ({e}); nothing to compare")
        return 0
    folders = {os.path.dirname(f) for f in files} - {""}
    folders = {d for d in folders if not any(d == s.rstrip("/") or d.startswith(s) for s in SKIP)}
    with open(os.path.join(args.source_dir, "README.md"), encoding="utf-8") as f:
        names = layout_names(f.read())
    if names is None:
        print("FAIL README.md has no '## Layout' section")
        return 1
    missing = sorted(d for d in folders if d not in names)
    for d in missing:
        print("FAIL README.md's Layout does not name", d + "/")
    print(f"{len(folders)} folders, {len(missing)} not named in the Layout")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
