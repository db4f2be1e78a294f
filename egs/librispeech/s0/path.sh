# Puts the repository's virtual environment (made by `make setup`) first on PATH.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
if [ -x "$repo_root/.venv/bin/asr-kd" ]; then
  export PATH="$repo_root/.venv/bin:$PATH"
fi
command -v asr-kd >/dev/null || { echo "asr-kd not found: run 'make setup' in $repo_root" >&2; return 1; }
export PYTHONUNBUFFERED=1
export LC_ALL=C
