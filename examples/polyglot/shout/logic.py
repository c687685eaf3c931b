"""The node's logic as a plain function: testable with `python3 -m unittest` without wasm."""


def shout(state: dict) -> tuple[str, dict]:
    """Returns the text to write and the state update for a state holding `greeted`."""
    name = state.get("greeted")
    if not isinstance(name, str) or not name:
        raise ValueError("state.greeted must be a non-empty string")
    loud = f"HELLO, {name.upper()}!"
    return loud + "\n", {"shouted": loud}
