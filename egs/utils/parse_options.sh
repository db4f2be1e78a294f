#!/usr/bin/env bash
# Our own take on Kaldi's parse_options.sh: source it after defining variables in a recipe;
# `--some-name VALUE` (or `--some-name=VALUE`) sets the existing variable some_name.
# Unknown options are errors; `--help` prints the options with their current values.

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      echo "Usage: $0 [options]"
      echo "Options (current value):"
      sed -n '1,/parse_options.sh/p' "$0" | grep -E '^[a-z_]+=' | while IFS= read -r line; do n=${line%%=*}; echo "  --${n//_/-} ${line#*=}"; done
      exit 0 ;;
    --*=*) name="${1%%=*}"; value="${1#*=}"; shift ;;
    --*)
      [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
      name="$1"; value="$2"; shift 2 ;;
    *) break ;;
  esac
  var="${name#--}"; var="${var//-/_}"
  if ! declare -p "$var" >/dev/null 2>&1 || [[ ! "$var" =~ ^[a-z_][a-z0-9_]*$ ]]; then
    echo "$0: unknown option $name (see --help)" >&2; exit 1
  fi
  printf -v "$var" '%s' "$value"
done
true
