#!/usr/bin/env bash
# Mutation testing of the pure decision units (docs/testing.md). Applies each mutant listed in
# scripts/mutants.txt (or $TIDE_MUTANTS) to a copy of the source tree, builds only the unit
# test binaries of the mutant's unit, runs them, and reports the mutant KILLED (a test failed or
# hung) or SURVIVED (every test passed). Exits 1 if any mutant survived, 2 on a bad mutant list,
# a mutant that does not compile, or tests that fail before any mutation.
#
#   scripts/mutate.sh                  every mutant
#   scripts/mutate.sh scheduler ...    only the mutants of these units
#
# The source tree is never written: the copy lives in $TIDE_MUTATE_DIR (default
# ./build-mutate, with its own build dir inside; kept between runs so only what changed is
# rebuilt; ccache is used when installed). Environment: TIDE_MUTATE_JOBS (build jobs, default
# 2), TIDE_MUTATE_TIMEOUT (seconds per test binary, default 120).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
list=${TIDE_MUTANTS:-$root/scripts/mutants.txt}
work=${TIDE_MUTATE_DIR:-$root/build-mutate}
jobs=${TIDE_MUTATE_JOBS:-2}
test_timeout=${TIDE_MUTATE_TIMEOUT:-120}
mkdir -p "$work"
work=$(cd "$work" && pwd)
build=$work/build
if [ "$work" = "$root" ]; then
  echo "mutate.sh: TIDE_MUTATE_DIR must not be the source tree" >&2
  exit 2
fi

die() {
  echo "mutate.sh: $*" >&2
  exit 2
}

# ---- read the list ----------------------------------------------------------------------------
declare -A unit_tests=()
m_unit=() m_summary=() m_file=() m_from=() m_to=()
n=-1
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  case $line in
    '' | '#'*) continue ;;
    'unit '*)
      read -r _ name tests <<<"$line"
      [ -n "${tests:-}" ] || die "$list:$lineno: unit $name names no test"
      unit_tests[$name]=$tests
      ;;
    'mutant '*)
      n=$((n + 1))
      rest=${line#mutant }
      m_unit[n]=${rest%%:*}
      m_summary[n]=${rest#*: }
      [ -n "${unit_tests[${m_unit[n]}]:-}" ] ||
        die "$list:$lineno: unit '${m_unit[n]}' is not declared by a 'unit' line"
      ;;
    'file '* | 'from '* | 'to' | 'to '*)
      [ "$n" -ge 0 ] || die "$list:$lineno: a '${line%% *}' line before any 'mutant' line"
      case $line in
        'file '*) m_file[n]=${line#file } ;;
        'from '*) m_from[n]=${line#from } ;;
        *)
          m_to[n]=${line#to}
          m_to[n]=${m_to[n]# }
          ;;
      esac
      ;;
    *) die "$list:$lineno: cannot read: $line" ;;
  esac
done <"$list"

# Which mutants to run: all, or those of the units named on the command line.
selected=()
for ((i = 0; i <= n; i++)); do
  if [ $# -eq 0 ]; then
    selected+=("$i")
  else
    for u in "$@"; do [ "$u" = "${m_unit[i]}" ] && selected+=("$i"); done
  fi
done
for u in "$@"; do
  [ -n "${unit_tests[$u]:-}" ] || die "no unit '$u' in $list (units: ${!unit_tests[*]})"
done
[ ${#selected[@]} -gt 0 ] || die "no mutants to run"

# Every selected mutant must be complete and its text must occur exactly once.
count_in() { # FILE: prints how often $FROM occurs in FILE
  FROM=$2 perl -e 'local $/; open my $f, "<", $ARGV[0] or die "$ARGV[0]: $!\n"; my $s = <$f>;
    my ($c, $p) = (0, 0); while (($p = index($s, $ENV{FROM}, $p)) >= 0) { $c++; $p++ } print $c' "$1"
}
for i in "${selected[@]}"; do
  what="mutant '${m_summary[i]}'"
  [ -n "${m_file[i]:-}" ] || die "$what has no 'file' line"
  [ -n "${m_from[i]:-}" ] || die "$what has no 'from' line"
  [ -n "${m_to[i]+set}" ] || die "$what has no 'to' line"
  [ -f "$root/${m_file[i]}" ] || die "$what: no file ${m_file[i]}"
  c=$(count_in "$root/${m_file[i]}" "${m_from[i]}")
  [ "$c" = 1 ] || die "$what: its 'from' text occurs $c times in ${m_file[i]} (must be once): ${m_from[i]}"
done

# ---- the copy ---------------------------------------------------------------------------------
# Tracked and untracked-but-not-ignored files, so uncommitted work is what gets mutated. Files
# whose content is unchanged keep their time stamps, so the copy's build stays incremental.
echo "mutate.sh: syncing the source tree into $work"
cd "$root"
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  if ! cmp -s "$f" "$work/$f"; then
    mkdir -p "$work/$(dirname "$f")"
    cp "$f" "$work/$f"
  fi
done < <(git ls-files -z -co --exclude-standard)

current_file=""
restore() { # puts the pristine file back into the copy (a fresh time stamp forces a rebuild)
  if [ -n "$current_file" ]; then
    cp "$root/$current_file" "$work/$current_file"
    current_file=""
  fi
}
trap restore EXIT
trap 'restore; exit 130' INT TERM

if [ ! -f "$build/build.ninja" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # No optimisation and no debug info: the quickest compile; the unit tests are small.
  cmake -S "$work" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
    "${launcher[@]}" >"$work/configure.log" 2>&1 || {
    cat "$work/configure.log" >&2
    die "configuring $build failed"
  }
fi
export CCACHE_BASEDIR=$work

build_targets() { # TEST... -> builds their ninja targets; output in $work/build.log
  local targets=()
  for t in "$@"; do targets+=("$(basename "$t")"); done
  cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$work/build.log" 2>&1
}
run_tests() { # TEST... -> 0 if all pass; sets $failed to the first that failed or hung
  failed=""
  for t in "$@"; do
    local rc=0
    timeout "$test_timeout" "$build/$t" --gtest_brief=1 >"$work/test.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
      failed=$(basename "$t")
      [ "$rc" -eq 124 ] && failed="$failed (timed out)"
      return 1
    fi
  done
}

# ---- baseline: the tests must pass before anything is mutated ---------------------------------
declare -A wanted=()
for i in "${selected[@]}"; do for t in ${unit_tests[${m_unit[i]}]}; do wanted[$t]=1; done; done
echo "mutate.sh: building and running the unit tests unmutated: ${!wanted[*]}"
build_targets "${!wanted[@]}" || {
  tail -50 "$work/build.log" >&2
  die "the unmutated tree does not build"
}
# shellcheck disable=SC2086
run_tests ${!wanted[*]} || {
  tail -50 "$work/test.log" >&2
  die "$failed fails without any mutation"
}

# ---- the mutants ------------------------------------------------------------------------------
killed=0 survived=0 broken=0
for i in "${selected[@]}"; do
  f=${m_file[i]}
  current_file=$f
  FROM=${m_from[i]} TO=${m_to[i]} perl -e 'local $/; my $n = $ARGV[0];
    open my $in, "<", $n or die "$n: $!\n"; my $s = <$in>; close $in;
    my $p = index($s, $ENV{FROM}); die "text not found in $n\n" if $p < 0;
    substr($s, $p, length $ENV{FROM}) = $ENV{TO};
    open my $out, ">", $n or die "$n: $!\n"; print $out $s; close $out or die "$n: $!\n"' \
    "$work/$f"
  tests=${unit_tests[${m_unit[i]}]}
  label="${m_unit[i]}: ${m_summary[i]}"
  # shellcheck disable=SC2086
  if ! build_targets $tests; then
    broken=$((broken + 1))
    printf '%-9s %s\n' "NO BUILD" "$label"
    grep -m 3 -E 'error' "$work/build.log" | sed 's/^/          /'
  elif run_tests $tests; then
    survived=$((survived + 1))
    printf '%-9s %s\n' "SURVIVED" "$label"
  else
    killed=$((killed + 1))
    printf '%-9s %s  [%s]\n' "KILLED" "$label" "$failed"
  fi
  restore
done

total=${#selected[@]}
echo "mutate.sh: $total mutants: $killed killed, $survived survived, $broken did not build"
[ "$broken" -eq 0 ] || exit 2
[ "$survived" -eq 0 ] || exit 1
