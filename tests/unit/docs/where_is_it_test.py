#!/usr/bin/env python3
"""Checks docs/where-is-it.md against the tree.

Every table row names a file and one or more functions, each in backticks:

    | L1 kernel | `common/index/kernels_avx2.cc` | `L1Avx2` |

The test fails when a file does not exist, or when the file does not *define*
a named function: a name followed by a parameter list and then a body (`{`),
a constructor initialiser list (`:`) or `= default`, not merely a call or a
declaration. `Class::Method` must appear qualified in the file (an
out-of-line definition) or, for a method defined in its class body, as
`Method` after `class Class` / `struct Class`.
"""
import argparse
import os
import re
import sys

ROW = re.compile(r"^\|\s*(?P<what>[^|]+?)\s*\|\s*`(?P<file>[^`]+)`\s*\|(?P<funcs>[^|]+)\|")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: " " * len(m.group(0)), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def close_paren(text, open_at):
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def is_definition_at(text, name_end):
    """True if the parameter list starting at or after name_end opens a body."""
    m = re.compile(r"\s*(<[^;{}()]*>)?\s*\(").match(text, name_end)
    if not m:
        return False
    end = close_paren(text, m.end() - 1)
    if end < 0:
        return False
    rest = text[end + 1:end + 400]
    # Skip qualifiers and a trailing return type, then expect a body.
    rest = re.sub(r"^\s*((const|override|final|noexcept|mutable)\b\s*)*", "", rest)
    rest = re.sub(r"^->\s*[^{;]*", "", rest).lstrip()
    return rest.startswith("{") or rest.startswith(":") or rest.startswith("= default")


def defines(text, func):
    if "::" in func:
        cls, method = func.rsplit("::", 1)
        for m in re.finditer(r"\b" + re.escape(func) + r"\b", text):
            if is_definition_at(text, m.end()):
                return True
        cls_name = cls.rsplit("::", 1)[-1]
        decl = re.search(r"\b(class|struct)\s+" + re.escape(cls_name) + r"\b[^;]*?\{", text)
        if not decl:
            return False
        text = text[decl.end():]
        func = method
    for m in re.finditer(r"(?<![\w:.>])" + re.escape(func) + r"\b", text):
        if is_definition_at(text, m.end()):
            return True
    return False


def self_test():
    """The checker itself: definitions are found, calls and declarations are not."""
    src = strip_comments("""
        absl::Status Foo(int a);              // declaration
        void Bar() { Foo(1); }                // Foo called, Bar defined
        // void Commented() {}
        template <typename T> T Baz(T t) const noexcept { return t; }
        Widget::Widget(int x) : x_(x) {}
        auto Widget::Size() const -> int { return 1; }
        class Gadget { int Area() const override { return 2; } void Decl(); };
        """)
    cases = {"Foo": False, "Bar": True, "Commented": False, "Baz": True,
             "Widget::Widget": True, "Widget::Size": True, "Gadget::Area": True,
             "Gadget::Decl": False, "Missing": False}
    failures = [f"{n}: expected {want}" for n, want in cases.items() if defines(src, n) != want]
    for f in failures:
        print("FAIL self-test", f)
    print(f"self-test: {len(cases)} cases, {len(failures)} failures")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source_dir")
    ap.add_argument("--self_test", action="store_true")
    ap.add_argument("--doc", default="docs/where-is-it.md")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    doc = os.path.join(args.source_dir, args.doc)
    rows, errors = 0, []
    with open(doc, encoding="utf-8") as f:
        for line in f:
            m = ROW.match(line)
            if not m:
                continue
            rows += 1
            path = os.path.join(args.source_dir, m.group("file"))
            funcs = re.findall(r"`([^`]+)`", m.group("funcs"))
            if not funcs:
                errors.append(f"{m.group('what')}: no function named")
                continue
            if not os.path.isfile(path):
                errors.append(f"{m.group('what')}: {m.group('file')} does not exist")
                continue
            with open(path, encoding="utf-8") as src:
                text = strip_comments(src.read())
            for func in funcs:
                if not defines(text, func):
                    errors.append(f"{m.group('what')}: {m.group('file')} does not define {func}")
    if rows < 10:
        errors.append(f"{args.doc}: {rows} rows; the table must have at least 10")
    for e in errors:
        print("FAIL", e)
    print(f"{rows} rows checked, {len(errors)} failures")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
