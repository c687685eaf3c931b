"""A WTB node in Python: the wtb:node world's `run`, built with
`componentize-py -d ../../../wit -w node componentize app -o shout.wasm`."""
import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import host, types

from logic import shout


class WitWorld(wit_world.WitWorld):
    def run(self, input: types.NodeInput) -> types.NodeOutput:
        try:
            text, update = shout(json.loads(input.state))
        except ValueError as e:
            raise Err(types.NodeError_InvalidInput(str(e)))
        with open("shout.txt", "w") as f:  # the workspace is `/`: the file is captured
            f.write(text)
        host.log(host.Level.INFO, f"shouted {len(text)} bytes")
        return types.NodeOutput(update=json.dumps(update), route=None)
