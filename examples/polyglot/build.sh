#!/bin/sh
# Builds the polyglot example's components into build/: the Rust node with cargo, the Python
# node with componentize-py and the JavaScript node with componentize-js (installed on first
# use by tools.sh, with pip and npm, into $WTB_TOOLS; default target/polyglot-tools).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=$(WTB_TOOLS=${WTB_TOOLS:-} sh "$here/tools.sh")
mkdir -p "$here/build"

# Rust: the hello example node, built like any wtb-guest node.
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
target_dir=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --quiet --release --target wasm32-wasip2 -p wtb-example-hello)
cp "$target_dir/wasm32-wasip2/release/wtb_example_hello.wasm" "$here/build/hello.wasm"

# Python: componentize-py.
(cd "$here/shout" && PYTHONPATH="$tools/py" "$tools/py/bin/componentize-py" -d "$root/wit" -w node componentize app -o "$here/build/shout.wasm" >/dev/null)

# JavaScript: componentize-js (HTTP and fetch-event left out: a node has no network).
(cd "$here/letters" && "$tools/js/node_modules/.bin/componentize-js" app.js --wit "$root/wit" -n node -d http -d fetch-event -o "$here/build/letters.wasm" >/dev/null)

echo "built $here/build/hello.wasm shout.wasm letters.wasm"
