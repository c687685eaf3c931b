#!/bin/sh
# Installs the toolchains of the Python and JavaScript nodes into $WTB_TOOLS (default:
# target/polyglot-tools of the checkout), at the versions WTB is tested with, unless present:
#   componentize-py (PyPI)  -> $WTB_TOOLS/py/bin/componentize-py (with PYTHONPATH=$WTB_TOOLS/py)
#   componentize-js (npm)   -> $WTB_TOOLS/js/node_modules/.bin/componentize-js
# Exit status 3, with the install step named, when python3/pip or npm is missing.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=${WTB_TOOLS:-$root/target/polyglot-tools}
componentize_py=0.25.1
componentize_js=0.19.3
mkdir -p "$tools"

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "\`$1\` is needed: $2" >&2; exit 3; }
}

if [ ! -x "$tools/py/bin/componentize-py" ]; then
    need python3 "install Python 3.9 or newer with pip (e.g. apt install python3 python3-pip)"
    python3 -m pip --version >/dev/null 2>&1 || { echo "pip is needed: apt install python3-pip (or python3 -m ensurepip)" >&2; exit 3; }
    python3 -m pip install --quiet --disable-pip-version-check --target "$tools/py" "componentize-py==$componentize_py"
fi
if [ ! -x "$tools/js/node_modules/.bin/componentize-js" ]; then
    need npm "install Node.js 18 or newer with npm (e.g. apt install nodejs npm)"
    npm install --silent --no-audit --no-fund --prefix "$tools/js" "@bytecodealliance/componentize-js@$componentize_js" >/dev/null
fi
echo "$tools"
