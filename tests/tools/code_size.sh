#!/usr/bin/env bash
# The size of the code a newcomer has to hold in their head (issue #9):
# the N largest non-test source files and the N longest functions, and every
# function over LIMIT lines. Functions are found by universal-ctags (their
# first and last lines), so the count is of source lines, comments included.
#
#   tests/tools/code_size.sh [N=15] [LIMIT=80]      run from the repository root
set -euo pipefail
N=${1:-15}
LIMIT=${2:-80}
command -v ctags >/dev/null || { echo "code_size: needs universal-ctags (apt install universal-ctags)" >&2; exit 2; }
sources() { git ls-files '*.cc' '*.h' | grep -v '^tests/'; }

echo "## The $N largest non-test source files (lines)"
sources | xargs wc -l | grep -v ' total$' | sort -rn | head -"$N"
echo
echo "## The $N longest functions (lines, file:first line, name)"
sources | ctags --languages=C++ --kinds-C++=f --fields=+ne -x \
    --_xformat='%{end} %{line} %{input} %{scope}::%{name}' -L - 2>/dev/null |
  awk '$1 != "-" { n = $1 - $2 + 1; name = $4; sub(/^::/, "", name);
                   gsub(/__anon[0-9a-f]+::/, "", name); print n, $3 ":" $2, name }' |
  sort -rn > /tmp/code_size.$$
head -"$N" /tmp/code_size.$$
echo
echo "## Functions over $LIMIT lines"
awk -v limit="$LIMIT" '$1 > limit' /tmp/code_size.$$
echo "($(awk -v limit="$LIMIT" '$1 > limit' /tmp/code_size.$$ | wc -l) functions)"
rm -f /tmp/code_size.$$
