// The node's logic as a plain function: testable with `node --test` without wasm.

/** Counts the ASCII letters of `state.shouted`; throws on a state without it. (The engine
 * inside the component, StarlingMonkey, has no Unicode property escapes such as `\p{L}`.) */
export function countLetters(state) {
  if (typeof state.shouted !== "string") {
    throw new Error("state.shouted must be a string");
  }
  const letters = [...state.shouted].filter((c) => /[a-z]/i.test(c)).length;
  return { letters };
}
