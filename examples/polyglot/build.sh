#!/bin/sh
# Builds the polyglot example's components into build/: the Rust node with cargo, the Python
# node with componentize-py and the JavaScript node with componentize-js. The two toolchains
# are installed on first use into $WTB_TOOLS (default: target/polyglot-tools of the checkout),
# with pip and npm, at the versions WTB is tested with.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=${WTB_TOOLS:-$root/target/polyglot-tools}
componentize_py=0.25.1
componentize_js=0.19.3
mkdir -p "$here/build" "$tools"

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "build.sh: \`$1\` is needed: $2" >&2; exit 3; }
}

# Rust: the hello example node, built like any wtb-guest node.
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
target_dir=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --quiet --release --target wasm32-wasip2 -p wtb-example-hello)
cp "$target_dir/wasm32-wasip2/release/wtb_example_hello.wasm" "$here/build/hello.wasm"

# Python: componentize-py, from PyPI.
need python3 "install Python 3.9 or newer (e.g. apt install python3 python3-pip)"
if [ ! -x "$tools/py/bin/componentize-py" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --target "$tools/py" "componentize-py==$componentize_py"
fi
(cd "$here/shout" && PYTHONPATH="$tools/py" "$tools/py/bin/componentize-py" -d "$root/wit" -w node componentize app -o "$here/build/shout.wasm" >/dev/null)

# JavaScript: componentize-js, from npm (HTTP and fetch-event left out: a node has no network).
need npm "install Node.js 18 or newer with npm (e.g. apt install nodejs npm)"
if [ ! -x "$tools/js/node_modules/.bin/componentize-js" ]; then
    npm install --silent --no-audit --no-fund --prefix "$tools/js" "@bytecodealliance/componentize-js@$componentize_js" >/dev/null
fi
(cd "$here/letters" && "$tools/js/node_modules/.bin/componentize-js" app.js --wit "$root/wit" -n node -d http -d fetch-event -o "$here/build/letters.wasm" >/dev/null)

echo "built $here/build/hello.wasm shout.wasm letters.wasm"
