//! The JavaScript template: componentize-js against the `wtb:node` world. The node's logic is a
//! plain function in `logic.js`, tested natively with `node --test`; `app.js` adapts it.

use super::{COMPONENTIZE_JS, NODE_WIT};

/// The project's files.
pub(super) fn files(name: &str) -> Vec<(&'static str, String)> {
    let fill = |t: &str| t.replace("{name}", name).replace("{componentize_js}", COMPONENTIZE_JS);
    vec![
        ("app.js", fill(APP)),
        ("logic.js", fill(LOGIC)),
        ("logic.test.js", fill(TEST)),
        ("package.json", fill(PACKAGE)),
        ("wit/node.wit", NODE_WIT.to_owned()),
        ("README.md", fill(README)),
        ("workflow.toml", super::workflow(name, &format!("{name}.wasm"), "")),
        (".gitignore", "*.wasm\nnode_modules/\n".to_owned()),
    ]
}

const APP: &str = r#"// `{name}`: a WTB workflow node in JavaScript, adapting `step` to the wtb:node world.
import { emit, log } from "wtb:node/host@0.1.0";
import { step } from "./logic.js";

export function run(input) {
  let update;
  try {
    update = step(JSON.parse(input.state), JSON.parse(input.config) ?? {});
  } catch (e) {
    // The node's own verdict (not a crash): retrying will not help.
    throw { tag: "invalid-input", val: String(e.message ?? e) };
  }
  log("info", `run ${update.count}`);
  // An event: delivered by the outbox only if this node's checkpoint commits.
  emit("{name}.ran", JSON.stringify(update));
  return { update: JSON.stringify(update) };
}
"#;

const LOGIC: &str = r#"// The node's logic as a plain function, so `node --test` tests it without wasm.

/** Counts the node's runs; returns the state update. */
export function step(state, config) {
  const count = state.count ?? 0;
  if (!Number.isInteger(count)) {
    throw new Error("state.count must be an integer");
  }
  return { count: count + 1, greeting: `${config.greeting ?? "hello"} from {name}` };
}
"#;

const TEST: &str = r#"import { test } from "node:test";
import assert from "node:assert/strict";
import { step } from "./logic.js";

test("counts and greets", () => {
  assert.deepEqual(step({ count: 41 }, { greeting: "hi" }), { count: 42, greeting: "hi from {name}" });
});

test("refuses a bad count", () => {
  assert.throws(() => step({ count: "many" }, {}), /state.count/);
});
"#;

const PACKAGE: &str = r#"{
  "name": "{name}",
  "private": true,
  "type": "module",
  "scripts": {
    "build": "componentize-js app.js --wit wit -n node -d http -d fetch-event -o {name}.wasm",
    "test": "node --test"
  },
  "devDependencies": {
    "@bytecodealliance/componentize-js": "{componentize_js}"
  }
}
"#;

const README: &str = r#"# {name}

A WTB workflow node in JavaScript, built into a WebAssembly component with
[componentize-js](https://www.npmjs.com/package/@bytecodealliance/componentize-js) against the
`wtb:node` world (`wit/node.wit`). Once: `npm install`.

```sh
# 1. build it (and test its logic natively: npm test)
npm run build
# 2. run it alone, in the same sandbox as in a workflow; nothing is stored
wtb node run {name}.wasm --state '{"count": 1}' --config '{"greeting": "hi"}'
# 3. run it in a workflow (workflow.toml names it; add your other nodes there)
wtb run workflow.toml
```

The engine inside the component (StarlingMonkey) has no file-system API: a JavaScript node
works on the state and emits events; use a Rust or Python node for workspace files.
"#;
