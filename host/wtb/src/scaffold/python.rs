//! The Python template: componentize-py against the `wtb:node` world. The node's logic is a
//! plain function in `logic.py`, unit-tested natively; `app.py` adapts it to the world.

use super::{COMPONENTIZE_PY, NODE_WIT};

/// The project's files.
pub(super) fn files(name: &str) -> Vec<(&'static str, String)> {
    let fill = |t: &str| t.replace("{name}", name).replace("{componentize_py}", COMPONENTIZE_PY);
    vec![
        ("app.py", fill(APP)),
        ("logic.py", fill(LOGIC)),
        ("test_logic.py", fill(TEST)),
        ("wit/node.wit", NODE_WIT.to_owned()),
        ("README.md", fill(README)),
        ("workflow.toml", super::workflow(name, &format!("{name}.wasm"), "network = \"deny\"\n")),
        (".gitignore", "*.wasm\n__pycache__/\nwit_world/\ncomponentize_py_*\npoll_loop.py\n".to_owned()),
    ]
}

const APP: &str = r#""""`{name}`: a WTB workflow node in Python, adapting `logic.step` to the wtb:node world."""
import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import host, types

import logic


class WitWorld(wit_world.WitWorld):
    def run(self, input: types.NodeInput) -> types.NodeOutput:
        config = json.loads(input.config) or {}
        try:
            update, text = logic.step(json.loads(input.state), config)
        except ValueError as e:
            # The node's own verdict (not a crash): retrying will not help.
            raise Err(types.NodeError_InvalidInput(str(e)))
        # `/` is the execution's workspace: every checkpoint records this file.
        with open("{name}.txt", "w") as f:
            f.write(text)
        host.log(host.Level.INFO, f"run {update['count']}")
        return types.NodeOutput(update=json.dumps(update), route=None)
"#;

const LOGIC: &str = r#""""The node's logic as a plain function, so `python3 -m unittest` tests it without wasm."""


def step(state: dict, config: dict) -> tuple[dict, str]:
    """Counts the node's runs; returns the state update and the text of its file."""
    count = state.get("count", 0)
    if not isinstance(count, int):
        raise ValueError("state.count must be an integer")
    greeting = config.get("greeting", "hello")
    return {"count": count + 1}, f"{greeting} from {name}, run {count + 1}\n"
"#;

const TEST: &str = r#"import unittest

import logic


class StepTest(unittest.TestCase):
    def test_counts_and_greets(self):
        self.assertEqual(logic.step({"count": 41}, {"greeting": "hi"}), ({"count": 42}, "hi from {name}, run 42\n"))

    def test_refuses_a_bad_count(self):
        with self.assertRaises(ValueError):
            logic.step({"count": "many"}, {})


if __name__ == "__main__":
    unittest.main()
"#;

const README: &str = r#"# {name}

A WTB workflow node in Python, built into a WebAssembly component with
[componentize-py](https://pypi.org/project/componentize-py/) against the `wtb:node` world
(`wit/node.wit`). Once: `python3 -m pip install componentize-py=={componentize_py}`.

```sh
# 1. build it (and test its logic natively: python3 -m unittest)
componentize-py -d wit -w node componentize app -o {name}.wasm
# 2. run it alone, in the same sandbox as in a workflow; nothing is stored
wtb node run {name}.wasm --network deny --state '{"count": 1}' --config '{"greeting": "hi"}'
# 3. run it in a workflow (workflow.toml names it; add your other nodes there)
wtb run workflow.toml
```

componentize-py's components import `wasi:sockets`, which WTB links only for nodes declared
`network = "deny"` (`--network deny`): every socket use is then refused. A node has no network.
"#;
